"""Detect 2D keypoints in a video and write them as a keypoints npz.

``phymo detect VIDEO -o keypoints.npz [--start N] [--end N] [--stride N] [--detector mediapipe]`` runs
the keypoint detector alone (one person, ``--person`` where several are seen; frames without a
detection are kept and marked) and writes
pixels, confidences, world landmarks, fps and image size in the format that
:func:`phymo.pose.load_keypoints` (and ``--keypoints``) reads back.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("video", type=Path, help="input video file")
    parser.add_argument("-o", "--output", type=Path, required=True, help="keypoints .npz to write")
    parser.add_argument("--detector", default="mediapipe", help="keypoint backend (default: mediapipe)")
    parser.add_argument("--start", type=int, default=0, help="first frame (default: 0)")
    parser.add_argument("--end", type=int, default=None, help="frame to stop before (default: the last)")
    parser.add_argument("--stride", type=int, default=1, help="keep every N-th frame (default: 1)")
    parser.add_argument("--person", default=None,
                        help="whom to follow where several people are seen: N (0 is the leftmost in the first frame "
                             "where several are seen) or a point X,Y in pixels (default: the most prominent)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from phymo.data import PhymoError
    from phymo.pose import PersonChoice, detect_video

    if args.stride < 1 or args.start < 0 or (args.end is not None and args.end <= args.start):
        raise PhymoError(f"bad frame selection --start {args.start} --end {args.end} --stride {args.stride}")
    person = None if args.person is None else PersonChoice.parse(args.person)
    kp = detect_video(args.video, args.detector, args.start, args.end, args.stride, progress=not args.no_progress,
                      person=person)
    kp.save(args.output)
    missing = int((~kp.detected).sum())
    print(f"{args.video} -> {args.output}")
    print(f"frames: {kp.num_frames}  with a person: {kp.num_frames - missing} ({100 * kp.detected_share:.0f}%)  "
          f"fps: {kp.fps:.6g}  size: {kp.width}x{kp.height}  joint set: {kp.joint_set}  "
          f"detection: {kp.meta['detect_fps']:.1f} frames/s")
    people = kp.meta["people"]
    if people["seen"] > 1 or people["choice"] is not None:
        print(f"people seen: {people['seen']} (numbered from the left in frame {people['numbered_in_frame']}); "
              f"followed: {people['why']}")
    return 0
