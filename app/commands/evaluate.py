"""Evaluate physics reconstruction against ground truth on a dataset, sequentially or on Ray.

``phymo evaluate --dataset mocap|h36m|aist|multiview --root PATH [--subjects S9 S11] [--optimizer NAME]
[--compare NAME ...] [--workers N] [--ray-address ADDR] -o OUT`` scores the kinematic initialization and
the physics result of every sequence (MPJPE, PA-MPJPE, global MPJPE, 2D error, acceleration error, foot
skating, floating, penetration, residual force, optimizer steps, wall time), streams one JSON line per
sequence to ``OUT/sequences.jsonl`` (a rerun skips finished sequences) and writes ``OUT/summary.json`` and
``OUT/summary.md``. ``multiview`` takes a calibrated multi-camera trial: each camera's video goes through
the whole pipeline (its outputs in ``OUT/runs/<camera>``) and is scored against the triangulated markers
(``--reference FILE``; ``--use-calibration`` gives the reconstruction the calibrated intrinsics).
``--compare`` runs more optimizers on the same windows (``OUT/optimizers.json``). ``--workers 0`` runs
sequentially without Ray. The reconstruction optimizes as ``phymo reconstruct`` does by default.
"""

from __future__ import annotations

import argparse
from pathlib import Path

#: the configuration fields that are flags of ``evaluate`` (paths in EvalConfig)
EVAL_OPTIONS = (("optimizer", "name"), ("optimizer", "steps"), ("optimizer", "lr"), ("optimizer", "step_scale"),
                ("physics", "windows", "window"), ("physics", "windows", "overlap"), ("physics", "fit_ankle"),
                ("physics", "planner", "samples"), ("physics", "planner", "iterations"), ("physics", "residual"))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from phymo.app.evaluation import DATASETS, EvalConfig

    from .options import add_options

    parser.add_argument("--dataset", required=True, choices=list(DATASETS))
    parser.add_argument("--root", type=Path, required=True, help="dataset folder")
    parser.add_argument("-o", "--output", type=Path, required=True, help="output folder (results, summary)")
    parser.add_argument("--subjects", nargs="+", default=["S9", "S11"], help="Human3.6M subjects (default: S9 S11)")
    parser.add_argument("--cameras", nargs="+", type=int, default=[0, 1, 2, 3], help="Human3.6M views 0..3")
    parser.add_argument("--actions", nargs="*", default=[], help="only these action groups (default: all)")
    parser.add_argument("--split", default="test", choices=["train", "validation", "test", "all"],
                        help="mocap corpus split (default: the held-out test split)")
    parser.add_argument("--keypoints", default="synthetic",
                        help="Human3.6M 2D source: synthetic, or NAME of data_2d_h36m_NAME.npz")
    parser.add_argument("--compare", nargs="+", default=[], metavar="OPTIMIZER",
                        help="also run these optimizers on the same windows of every sequence and compare them")
    parser.add_argument("--reference", default=None,
                        help="multiview: the markers' .trc file (default: the one under ROOT, the Butterworth-"
                             "filtered one when several)")
    parser.add_argument("--use-calibration", action="store_true",
                        help="multiview: give each camera's calibrated intrinsics to the reconstruction "
                             "(default: the usual camera guess, as phymo reconstruct makes it)")
    parser.add_argument("--fps", type=float, default=30.0, help="resample mocap/AIST++ to this rate (default 30)")
    parser.add_argument("--max-frames", type=int, default=None, help="first N frames of each sequence")
    parser.add_argument("--max-sequences", type=int, default=None, help="first N sequences")
    add_options(parser, EvalConfig, EVAL_OPTIONS)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=0, help="Ray workers (0: sequential, no Ray)")
    parser.add_argument("--ray-address", default=None, help="connect to this Ray cluster instead of a local one")
    parser.add_argument("--retries", type=int, default=2, help="retries of a job whose Ray worker died")


def run(args: argparse.Namespace) -> int:
    from phymo.app.evaluation import EvalConfig, RayRunner, SequentialRunner, run_evaluation

    from .options import config_from_args

    cfg = config_from_args(EvalConfig, args, EVAL_OPTIONS, dataset=args.dataset, root=str(args.root),
                           subjects=tuple(args.subjects), cameras=tuple(args.cameras), actions=tuple(args.actions),
                           split=args.split, keypoints=args.keypoints, fps=args.fps, max_frames=args.max_frames,
                           max_sequences=args.max_sequences, seed=args.seed, compare=tuple(args.compare),
                           reference=args.reference, use_calibration=args.use_calibration)
    use_ray = args.workers > 0 or args.ray_address
    runner = RayRunner(max(1, args.workers), args.ray_address, args.retries) if use_ray else SequentialRunner()
    summary = run_evaluation(cfg, args.output, runner)
    print((args.output / "summary.md").read_text())
    print(f"wrote {args.output / 'summary.json'} and {args.output / 'summary.md'}")
    return 1 if summary["count"]["failed"] else 0
