"""Benchmarks as commands: each prints a table and writes its rows as JSON.

A benchmark is a function ``run(quick: bool) -> list[dict]`` living next to the code it
measures; this module only looks it up, prints and saves.
"""

from __future__ import annotations

import argparse
import importlib
import json
from pathlib import Path

#: benchmark name -> "module:function"
BENCHMARKS: dict[str, str] = {
    "app": "phymo.app.benchmark:run",
    "optimizers": "phymo.optimizer.benchmark:run",
    "physics": "phymo.physics.benchmark:run",
    "physics-optimizers": "phymo.optimizer.benchmark:run_physics",
    "plausibility": "phymo.app.plausibility_bench:run",
    "pose": "phymo.pose.benchmark:run",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", choices=sorted(BENCHMARKS), help="what to measure")
    parser.add_argument("--json", type=Path, default=None, help="also write the rows to this JSON file")
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke run")


def format_table(rows: list[dict]) -> str:
    """Rows of dicts as an aligned plain-text table (columns in first-seen order)."""
    if not rows:
        return "(no rows)"
    cols: list[str] = []
    for r in rows:
        cols += [k for k in r if k not in cols]
    cells = [[_fmt(r.get(c, "")) for c in cols] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(cols)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(cols, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)) for row in cells]
    return "\n".join(lines)


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def run(args: argparse.Namespace) -> int:
    module, func = BENCHMARKS[args.name].split(":")
    rows = getattr(importlib.import_module(module), func)(quick=args.quick)
    print(format_table(rows))
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(rows, indent=2))
        print(f"wrote {args.json}")
    return 0
