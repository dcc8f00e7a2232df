"""Benchmarks as commands: each prints a table and writes its result as JSON.

A benchmark is a function living next to the code it measures, registered here in :data:`BENCHMARKS` with
the options it takes beyond the common ``--quick`` and ``--json``. ``phymo bench NAME [OPTIONS]`` calls it
with ``quick`` and its own options as keywords. It returns its rows (a list of dicts) or a dict with
``"rows"`` and whatever else it measured (and optionally a ``"table"``: the rows as printed); the JSON file
holds ``{"benchmark": NAME, "rows": [...], ...}``.
A benchmark with a ``plot`` also draws a figure next to the JSON file (``FILE`` with ``.png``).
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from phymo.data import atomic_write_json
from phymo.data.errors import PhymoError


def _no_options(_parser: argparse.ArgumentParser) -> None:
    return None


def _physics_optimizer_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--root", type=Path, default=None, help="mocap corpus (BVH files; default ../shared/data)")
    parser.add_argument("--split", choices=["test", "validation", "train", "all"], default="test",
                        help="the corpus split whose clips give the windows")
    parser.add_argument("--windows", type=int, default=40, help="windows, spread evenly over the split's clips")
    parser.add_argument("--budget", type=int, nargs="+", default=None, metavar="EVALS",
                        help="loss-and-gradient evaluations per window and optimizer; several give one row each "
                             "(default: the reconstruction's steps per window, OptimizerConfig().steps)")
    parser.add_argument("--lbfgs-cap", type=int, default=None,
                        help="most evaluations of the L-BFGS reference run to its own convergence (default 200)")
    parser.add_argument("--lr", type=float, default=None, help="Adam's learning rate (default: the reconstruction's)")
    parser.add_argument("--step-scale", type=float, default=None,
                        help="update scale of the learned optimizers (default: the reconstruction's)")


def _gpu_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", default="cuda", help="the device checked against the CPU (default cuda)")


@dataclass(frozen=True)
class Benchmark:
    """``run``: ``"module:function"``; ``options``: adds the benchmark's own arguments; ``plot``:
    ``"module:function(result, path)"`` drawing a figure of the result."""

    run: str
    help: str
    options: Callable[[argparse.ArgumentParser], None] = _no_options
    plot: str | None = None


BENCHMARKS: dict[str, Benchmark] = {
    "app": Benchmark("phymo.app.benchmark:run", "phymo reconstruct on the real clips, per stage"),
    "gpu": Benchmark("phymo.optimizer.gpu_check:run",
                     "Optimus on CUDA: agreement with the CPU, step time and memory, meta-training throughput",
                     _gpu_options),
    "optimizers": Benchmark("phymo.optimizer.benchmark:run", "optimizers on held-out test functions"),
    "physics": Benchmark("phymo.physics.benchmark:run", "rollout and gradient cost of the simulation"),
    "physics-optimizers": Benchmark("phymo.app.bench_physics:run",
                                    "optimizers on the same physics windows at the same evaluation budget",
                                    _physics_optimizer_options, "phymo.app.bench_physics:plot"),
    "plausibility": Benchmark("phymo.app.plausibility_bench:run",
                              "physics beside the kinematic estimate on the real clips and the mocap test split"),
    "pose": Benchmark("phymo.pose.benchmark:run", "2D detection and kinematic fit on the real clips"),
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="name", required=True, metavar="NAME")
    for name, bench in BENCHMARKS.items():
        p = sub.add_parser(name, help=bench.help, description=bench.help)
        p.add_argument("--json", type=Path, default=None, help="also write the result to this JSON file" + (
            " and its figure next to it (same name, .png)" if bench.plot else ""))
        p.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke run")
        bench.options(p)


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
    if isinstance(v, list | tuple):
        return "[" + ", ".join(_fmt(x) for x in v) + "]"
    return str(v)


def _call(target: str):
    module, func = target.split(":")
    return getattr(importlib.import_module(module), func)


def run(args: argparse.Namespace) -> int:
    bench = BENCHMARKS[args.name]
    opts = {k: v for k, v in vars(args).items() if k not in ("command", "name", "json", "verbose", "_module")}
    if args.json is not None and args.json.suffix.lower() != ".json":
        raise PhymoError(f"--json {args.json}: give a file name ending in .json")
    result = _call(bench.run)(**opts)
    result = {"rows": result} if isinstance(result, list) else dict(result)
    print(format_table(result.pop("table", result["rows"])))
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_json(args.json, {"benchmark": args.name, **result})
        print(f"wrote {args.json}")
        if bench.plot is not None:
            figure = args.json.with_suffix(".png")
            _call(bench.plot)(result, figure)
            print(f"wrote {figure}")
    return 0
