"""Run the whole pipeline on the built-in input: a synthesized walk filmed by a virtual camera.

Needs nothing of yours and no network. Writes the input (input/input.mp4, input/keypoints.npz),
every output of ``phymo reconstruct`` and ``truth.json`` (errors against the synthesized walk) into the
output folder (default out/demo).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from .cmd_reconstruct import add_pipeline_arguments, pipeline_config, print_summary


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--duration", type=float, default=3.0, help="length of the synthesized walk, seconds")
    add_pipeline_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from phymo.data.errors import PhymoError

    from .demo import DEMO_FPS, MIN_FRAMES, truth_errors, write_demo_input
    from .pipeline import run_pipeline

    if not round(args.duration * DEMO_FPS) >= MIN_FRAMES:
        raise PhymoError(f"--duration must give at least {MIN_FRAMES} frames at {DEMO_FPS:g} fps "
                         f"(>= {MIN_FRAMES / DEMO_FPS:g} s), got {args.duration}")
    config = pipeline_config(args)  # a setting that cannot work fails here, before the input is written
    out = args.out or Path("out") / "demo"
    video, keypoints = write_demo_input(out / "input", duration_s=args.duration)
    report = run_pipeline(out, config, video=video, keypoints=keypoints, resume=args.resume)
    truth = truth_errors(out, duration_s=args.duration)
    print_summary(report, out)
    print(f"  against the synthesized walk (truth.json): PA-MPJPE {truth['kinematic_pa_mpjpe_mm']:.1f} mm "
          f"(kinematic) -> {truth['motion_pa_mpjpe_mm']:.1f} mm (physics); the walk's own foot skating "
          f"{truth['truth_foot_skating']:.1%}")
    return 0
