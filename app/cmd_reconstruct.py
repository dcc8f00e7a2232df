"""Reconstruct physically plausible 3D motion from a video (or keypoints) and write every output.

Stages: 2D keypoints -> kinematic 3D initialization -> physics reconstruction (MuJoCo, optimized
with Optimus by default) -> motion.bvh / .npz / .json, kinematic.* for comparison, overlay.mp4,
loss and plausibility plots, report.json and config.json.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def add_pipeline_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags shared by ``reconstruct`` and ``demo``; each maps to one PipelineConfig field."""
    parser.add_argument("-o", "--out", type=Path, default=None, help="output folder (default: out/<video name>)")
    parser.add_argument("--optimizer", default="optimus",
                        help="physics optimizer: optimus, lbfgs, adam, adafac_mlp, ... (phymo.optimizer registry)")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"],
                        help="where the learned optimizer runs (auto: CUDA when present)")
    parser.add_argument("--iterations", type=int, default=None, help="optimizer iterations per physics window")
    parser.add_argument("--window", type=int, default=None, help="frames per physics window")
    parser.add_argument("--fit-ankle", action=argparse.BooleanOptionalAction, default=None,
                        help="pitch the foot boxes to the estimate's standing ankle height (default: on; see "
                             "ReconstructConfig.fit_ankle)")
    parser.add_argument("--no-overlay", dest="overlay", action="store_false", help="skip overlay.mp4")
    parser.add_argument("--smpl-model", default=None, help="folder with your SMPL model files: also export SMPL")
    parser.add_argument("--resume", action="store_true", help="reuse finished stages and windows in OUT")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("video", type=Path, nargs="?", help="input video (optional with --keypoints)")
    parser.add_argument("--keypoints", type=Path, default=None,
                        help="keypoints made elsewhere (phymo .npz, OpenPose folder, COCO .json, .csv)")
    parser.add_argument("--start", type=float, default=0.0, help="start time, seconds")
    parser.add_argument("--end", type=float, default=None, help="end time, seconds (default: end of video)")
    parser.add_argument("--height", type=float, default=None, help="the person's height, metres")
    parser.add_argument("--focal", type=float, default=None, help="focal length, pixels")
    parser.add_argument("--calibration", default=None,
                        help="camera calibration: Pose2Sim/Sports2D TOML or Qualisys .qca.txt")
    parser.add_argument("--camera", default=None, help="the calibration's camera (default: its first)")
    add_pipeline_arguments(parser)


def pipeline_config(args: argparse.Namespace, **overrides):
    """The PipelineConfig the flags describe (unset physics flags keep the physics defaults)."""
    import dataclasses

    from .pipeline import PipelineConfig

    base = PipelineConfig()
    physics = dataclasses.replace(base.physics, **{k: v for k, v in (("iterations", args.iterations),
                                                                     ("window", args.window),
                                                                     ("fit_ankle", args.fit_ankle))
                                                   if v is not None})
    fields = {"optimizer": args.optimizer, "device": args.device, "overlay": args.overlay,
              "smpl_model": args.smpl_model, "physics": physics, **overrides}
    return dataclasses.replace(base, **fields)


def print_summary(report: dict, out: Path) -> None:
    phys, kin = report["plausibility"]["physics"], report["plausibility"]["kinematic"]
    t = report["timings_s"]
    print(f"\n{report['input']['frames']} frames at {report['input']['fps']:.3g} fps -> {out}")
    print("  stage times: " + ", ".join(f"{k} {v:.1f} s" for k, v in t.items()) +
          f"  (real-time factor {report['realtime_factor']:.1f}x)")
    print(f"  foot skating {kin['foot_skating']:.1%} (kinematic) -> {phys['foot_skating']:.1%} (physics); "
          f"penetration {phys['penetration_mm']:.1f} mm; fallback windows {report['fallback_windows']}")
    files = sorted(p.name for p in out.iterdir() if p.is_file() and not p.name.startswith("."))
    print("  outputs: " + ", ".join(files))
    for line in report["input"]["guesses"]["weak"]:
        print(f"  note: {line}")
    if 2 * report["fallback_windows"] > len(report["windows"]):
        print(f"  WARNING: {report['fallback_windows']} of {len(report['windows'])} physics windows fell back to the "
              "kinematic estimate (report.json windows[].fallback says why): this result is mostly not physics")


def run(args: argparse.Namespace) -> int:
    from phymo.data.errors import PhymoError

    from .pipeline import run_pipeline

    if args.video is None and args.keypoints is None:
        raise PhymoError("give a video file, or keypoints with --keypoints FILE")
    if args.video is not None:
        from phymo.data.errors import require_file

        require_file(args.video)
    config = pipeline_config(args, start_s=args.start, end_s=args.end, height_m=args.height, focal_px=args.focal,
                             calibration=args.calibration, camera=args.camera)
    out = args.out or Path("out") / (args.video or args.keypoints).stem
    report = run_pipeline(out, config, video=args.video, keypoints=args.keypoints, resume=args.resume)
    print_summary(report, out)
    return 0
