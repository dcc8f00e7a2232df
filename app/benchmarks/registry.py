"""Every benchmark ``phymo bench NAME`` runs, with the options it takes beyond the common ``--quick`` and ``--json``.

A benchmark is a function ``run(quick, **options)`` living next to the code it measures. It returns its rows (a
list of dicts) or a dict with ``"rows"`` and whatever else it measured (and optionally a ``"table"``: the rows
as printed). A benchmark with a ``plot`` also draws a figure of its result.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path


def _no_options(_parser: argparse.ArgumentParser) -> None:
    return None


def _window_options(parser: argparse.ArgumentParser, split: str, windows: int) -> None:
    """The mocap windows an optimizer benchmark runs on: corpus, split and how many."""
    parser.add_argument("--root", type=Path, default=None,
                        help="mocap corpus (BVH files; default: the shared data, $PHYMO_DATA or ../shared/data)")
    parser.add_argument("--split", choices=["test", "validation", "train", "all"], default=split,
                        help=f"the corpus split whose clips give the windows (default: {split})")
    parser.add_argument("--windows", type=int, default=windows, help="windows, spread evenly over the split's clips")


def _physics_optimizer_options(parser: argparse.ArgumentParser) -> None:
    _window_options(parser, "test", 40)
    parser.add_argument("--budget", type=int, nargs="+", default=None, metavar="EVALS",
                        help="loss-and-gradient evaluations per window and optimizer; several give one row each "
                             "(default: the reconstruction's steps per window, OptimizerConfig().steps)")
    parser.add_argument("--lbfgs-cap", type=int, default=None,
                        help="most evaluations of the L-BFGS reference run to its own convergence (default 200)")


def _optimizer_step_options(parser: argparse.ArgumentParser) -> None:
    from phymo.optimizer.physics_bench import GRID

    _window_options(parser, "validation", 16)  # choose on validation, measure on test
    parser.add_argument("--budget", type=int, default=None, metavar="EVALS",
                        help="loss-and-gradient evaluations per window (default: the reconstruction's steps)")
    parser.add_argument("--optimizers", nargs="+", default=list(GRID), choices=list(GRID),
                        help="the optimizers whose step is searched")


def _own_feet_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--rung", type=int, choices=[1, 2, 3], default=1,
                        help="1: true mocap as the reference; 2: mocap through synthetic observations; 3: real clips")
    parser.add_argument("--root", type=Path, default=None,
                        help="the shared data (mocap corpus and clips; default: $PHYMO_DATA or ../shared/data)")
    parser.add_argument("--split", choices=["train", "validation", "test", "all"], default=None,
                        help="the corpus split (default: train for rung 1, validation for rung 2)")
    parser.add_argument("--max-frames", type=int, default=150, help="rung 1: frames per clip at 30 fps")
    parser.add_argument("--clips", nargs="+", default=None,
                        help="rung 1: only clips whose file names contain one of these")


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
    "app": Benchmark("phymo.app.benchmarks.pipeline:run", "phymo reconstruct on the real clips, per stage"),
    "gpu": Benchmark("phymo.optimizer.gpu_check:run",
                     "Optimus on CUDA: agreement with the CPU, step time and memory, meta-training throughput",
                     _gpu_options),
    "optimizers": Benchmark("phymo.optimizer.benchmark:run", "optimizers on held-out test functions"),
    "own-feet": Benchmark("phymo.app.benchmarks.own_feet:run",
                          "does the body stand on its own? true mocap as the reference (rung 1)", _own_feet_options),
    "physics": Benchmark("phymo.physics.benchmark:run", "rollout and gradient cost of the simulation"),
    "physics-optimizers": Benchmark("phymo.app.benchmarks.physics_optimizers:run",
                                    "optimizers on the same physics windows at the same evaluation budget",
                                    _physics_optimizer_options, "phymo.app.benchmarks.physics_optimizers:plot"),
    "optimizer-steps": Benchmark("phymo.app.benchmarks.physics_optimizers:tune",
                                 "each optimizer's step chosen from a grid on the same physics windows",
                                 _optimizer_step_options),
    "plausibility": Benchmark("phymo.app.benchmarks.plausibility:run",
                              "physics beside the kinematic estimate on the real clips and the mocap test split"),
    "pose": Benchmark("phymo.pose.benchmark:run", "2D detection and kinematic fit on the real clips"),
}
