"""Run the whole pipeline on the built-in input: a synthesized walk filmed by a virtual camera.

Needs nothing of yours and no network. Writes the input (input/input.mp4, input/keypoints.npz) and
every output of ``phymo reconstruct`` into the output folder (default out/demo).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from .cmd_reconstruct import add_pipeline_arguments, pipeline_config, print_summary


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--duration", type=float, default=3.0, help="length of the synthesized walk, seconds")
    add_pipeline_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from .demo import write_demo_input
    from .pipeline import run_pipeline

    out = args.out or Path("out") / "demo"
    video, keypoints = write_demo_input(out / "input", duration_s=args.duration)
    report = run_pipeline(out, pipeline_config(args), video=video, keypoints=keypoints, resume=args.resume)
    print_summary(report, out)
    return 0
