"""Run a benchmark of :data:`phymo.app.benchmarks.registry.BENCHMARKS`, print its table and write its JSON.

``phymo bench NAME [--quick] [--json FILE] [OPTIONS]`` calls the benchmark with ``quick`` and its own options
as keywords; the JSON file holds ``{"benchmark": NAME, "rows": [...], ...}``, and a benchmark with a plot
draws its figure next to it (``FILE`` with ``.png``).
"""

from __future__ import annotations

import argparse
import importlib
from pathlib import Path

from phymo.app.benchmarks.registry import BENCHMARKS
from phymo.app.benchmarks.table import format_table
from phymo.data import PhymoError, atomic_write_json


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="name", required=True, metavar="NAME")
    for name, bench in BENCHMARKS.items():
        p = sub.add_parser(name, help=bench.help, description=bench.help)
        p.add_argument("--json", type=Path, default=None, help="also write the result to this JSON file" + (
            " and its figure next to it (same name, .png)" if bench.plot else ""))
        p.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke run")
        bench.options(p)


def load(target: str):
    """The function ``"module:function"`` names."""
    module, func = target.split(":")
    return getattr(importlib.import_module(module), func)


def run(args: argparse.Namespace) -> int:
    bench = BENCHMARKS[args.name]
    opts = {k: v for k, v in vars(args).items() if k not in ("command", "name", "json", "verbose", "_module")}
    if args.json is not None and args.json.suffix.lower() != ".json":
        raise PhymoError(f"--json {args.json}: give a file name ending in .json")
    result = load(bench.run)(**opts)
    result = {"rows": result} if isinstance(result, list) else dict(result)
    print(format_table(result.pop("table", result["rows"])))
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_json(args.json, {"benchmark": args.name, **result})
        print(f"wrote {args.json}")
        if bench.plot is not None:
            figure = args.json.with_suffix(".png")
            load(bench.plot)(result, figure)
            print(f"wrote {figure}")
    return 0
