"""Run the whole pipeline on the built-in input: a real clip shipped with phymo, or a synthesized walk.

Needs nothing of yours and no network. ``phymo demo`` reconstructs one view of a Pose2Sim trial
(BSD-3-Clause; 100 frames at 60 fps) exactly as ``phymo reconstruct`` would and scores it against the
trial's triangulated markers; ``phymo demo --synthetic [--duration S]`` does the same with a walk
synthesized and filmed by a virtual camera (input/input.mp4, input/keypoints.npz). Every output of
``phymo reconstruct`` and ``truth.json`` (errors against the truth, mm) go into the output folder
(default out/demo).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from .reconstruct import add_pipeline_arguments, pipeline_config, print_summary


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--synthetic", action="store_true",
                        help="a synthesized walk filmed by a virtual camera instead of the shipped real clip")
    parser.add_argument("--duration", type=float, default=None,
                        help="with --synthetic: length of the synthesized walk, seconds (default 3)")
    add_pipeline_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from phymo.app.demo.run import run_demo
    from phymo.app.demo.synthetic import DEMO_FPS, MIN_FRAMES
    from phymo.data import PhymoError

    if args.duration is not None and not args.synthetic:
        raise PhymoError("--duration sets the length of the synthesized walk: give it with --synthetic "
                         "(the real clip is 1.67 s)")
    duration = 3.0 if args.duration is None else args.duration
    if not round(duration * DEMO_FPS) >= MIN_FRAMES:
        raise PhymoError(f"--duration must give at least {MIN_FRAMES} frames at {DEMO_FPS:g} fps "
                         f"(>= {MIN_FRAMES / DEMO_FPS:g} s), got {duration}")
    config = pipeline_config(args)  # a setting that cannot work fails here, before the input is written
    out = args.out or Path("out") / "demo"
    report, truth = run_demo(out, config, args.synthetic, duration, args.resume)
    print_summary(report, out)
    rounded = {k: v if k == "reference" else {m: round(e, 1) for m, e in v.items()} for k, v in truth.items()}
    print(f"  truth.json (errors in mm): {json.dumps(rounded)}")
    return 0
