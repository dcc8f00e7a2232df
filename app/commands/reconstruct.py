"""Reconstruct physically plausible 3D motion from a video (or keypoints) and write every output.

Stages: 2D keypoints -> kinematic 3D initialization -> physics reconstruction (MuJoCo, optimized
with Optimus by default) -> motion.bvh / .npz / .json, kinematic.* for comparison, overlay.mp4,
loss and plausibility plots, report.json and config.json.
"""

from __future__ import annotations

import argparse
from pathlib import Path

#: the configuration fields that are flags of ``reconstruct`` and ``demo`` (paths in PipelineConfig)
PIPELINE_OPTIONS = (("optimizer", "name"), ("optimizer", "device"), ("optimizer", "steps"),
                    ("optimizer", "lr"), ("optimizer", "step_scale"), ("physics", "windows", "window"),
                    ("physics", "windows", "overlap"), ("physics", "windows", "max_deviation"),
                    ("physics", "simulation", "max_timestep"), ("physics", "simulation", "threads"),
                    ("physics", "servo", "frequency"), ("physics", "planner", "horizon"),
                    ("physics", "planner", "samples"), ("physics", "planner", "iterations"), ("physics", "residual"),
                    ("physics", "fit_ankle"), ("person",), ("overlay",), ("smpl_model",))
#: the flags of ``reconstruct`` alone
INPUT_OPTIONS = (("start",), ("end",), ("fit", "height"), ("fit", "prior"), ("focal",), ("calibration",), ("camera",))


def add_pipeline_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags shared by ``reconstruct`` and ``demo``; each maps to one configuration field."""
    from phymo.app.pipeline import PipelineConfig

    from .options import add_options

    parser.add_argument("-o", "--out", type=Path, default=None, help="output folder (default: out/<video name>)")
    add_options(parser, PipelineConfig, PIPELINE_OPTIONS)
    parser.add_argument("--resume", action="store_true", help="reuse finished stages and windows in OUT")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from phymo.app.pipeline import PipelineConfig

    from .options import add_options

    parser.add_argument("video", type=Path, nargs="?", help="input video (optional with --keypoints)")
    parser.add_argument("--keypoints", type=Path, default=None,
                        help="keypoints made elsewhere (phymo .npz, OpenPose folder, COCO .json, .csv)")
    add_options(parser, PipelineConfig, INPUT_OPTIONS)
    add_pipeline_arguments(parser)


def pipeline_config(args: argparse.Namespace, options=PIPELINE_OPTIONS, **fixed):
    """The PipelineConfig the flags describe; a value that cannot work fails here, before any work."""
    from phymo.app.pipeline import PipelineConfig

    from .options import config_from_args

    return config_from_args(PipelineConfig, args, options, **fixed)


def print_summary(report: dict, out: Path) -> None:
    """The run in a few lines: people, frames reconstructed, time, plausibility, windows, outputs."""
    from phymo.app.outputs import window_counts
    from phymo.physics import WindowStatus

    phys, kin = report["plausibility"]["physics"], report["plausibility"]["kinematic"]
    inp, cov, t = report["input"], report["coverage"], report["timings_s"]
    video_s = inp["frames"] / inp["fps"]
    print(f"\n{inp['frames']} frames at {inp['fps']:.3g} fps ({video_s:.1f} s of video) -> {out}")
    people = inp.get("people")
    if people and (people["seen"] > 1 or people["choice"] is not None):
        followed = people["people"][people["followed"]]
        who = (f"person {followed['number']}" if followed["number"] is not None
               else f"the person first seen in frame {followed['first_frame']}")
        print(f"  {people['seen']} people seen (numbered from the left in frame {people['numbered_in_frame']}); "
              f"followed {who}: {people['why']}; choose with --person N or --person X,Y")
    if inp.get("frames_missing_at_end"):
        print(f"  warning: {inp['frames_missing_at_end']} frames the video declares could not be decoded (truncated?)")
    segments = ", ".join(f"{a}-{b}" for a, b in cov["segments"])
    print(f"  reconstructed {cov['frames_reconstructed']} of {cov['frames_examined']} frames (frames {segments})"
          + (f" as {len(cov['segments'])} separate segments" if len(cov["segments"]) > 1 else "")
          + (f"; the person is not seen in the first {cov['left_out_leading']} and last {cov['left_out_trailing']}"
             if cov["left_out_leading"] or cov["left_out_trailing"] else ""))
    print("  stage times: " + ", ".join(f"{k} {v:.1f} s" for k, v in t.items()) +
          f" ({report['compute_s_per_video_s']:.1f} s of computing per second of video)")
    print(f"  foot skating {kin['foot_skating']:.1%} (kinematic) -> {phys['foot_skating']:.1%} (physics); floating "
          f"{kin['floating_mm']:.0f} -> {phys['floating_mm']:.0f} mm; penetration {kin['penetration_mm']:.1f} -> "
          f"{phys['penetration_mm']:.1f} mm")
    if phys.get("residual_force_n") is not None:
        print(f"  residual root force (hand of God): mean {phys['residual_force_n']:.0f} N "
              f"({phys['residual_share']:.0%} of body weight), 95th percentile {phys['residual_force_p95_n']:.0f} N "
              f"({phys['residual_p95_share']:.0%})")
    windows = report["windows"]
    counts = window_counts(w["status"] for w in windows)
    print("  physics windows: " + ", ".join(f"{n} {status.value}" for status, n in counts.items()))
    fell = [w for w in windows if WindowStatus(w["status"]) is WindowStatus.FELL_BACK]
    for w in windows:
        if WindowStatus(w["status"]) in (WindowStatus.ASSISTED, WindowStatus.FELL_BACK):
            held = f", the residual root force held {w['residual_share']:.0%} of the body weight" * bool(
                w["residual_share"])
            print(f"    {w['status']}: frames {w['start']}-{w['stop'] - 1} (segment {w['segment'] + 1}){held}: "
                  f"{w['reason']}")
    print("  outputs: " + ", ".join(report["files"]))
    for line in report["input"]["guesses"]["weak"]:
        print(f"  note: {line}")
    if 2 * len(fell) > len(windows):
        print(f"  WARNING: {len(fell)} of {len(windows)} physics windows fell back to the kinematic estimate "
              "(report.json windows[].reason says why): this result is mostly not physics")


def run(args: argparse.Namespace) -> int:
    from phymo.app.pipeline import run_pipeline
    from phymo.data import PhymoError

    if args.video is None and args.keypoints is None:
        raise PhymoError("give a video file, or keypoints with --keypoints FILE")
    if args.video is not None:
        from phymo.data import require_file

        require_file(args.video)
    config = pipeline_config(args, PIPELINE_OPTIONS + INPUT_OPTIONS)
    out = args.out or Path("out") / (args.video or args.keypoints).stem
    report = run_pipeline(out, config, video=args.video, keypoints=args.keypoints, resume=args.resume)
    print_summary(report, out)
    return 0
