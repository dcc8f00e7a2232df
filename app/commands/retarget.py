"""Retarget a mocap BVH clip to phymo's canonical skeleton and write it as BVH.

``phymo retarget IN.bvh -o OUT.bvh [--units m|cm] [--up y|z] [--order ZXY]`` reads any supported
BVH family (see :mod:`phymo.data.retarget`), keeps its frames and frame time, and writes the
canonical 22-joint skeleton (Y up and metres by default).
"""

from __future__ import annotations

import argparse
import itertools
from pathlib import Path

_ORDERS = ["".join(p) for p in itertools.permutations("XYZ")]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", type=Path, help="source BVH file")
    parser.add_argument("-o", "--output", type=Path, required=True, help="BVH file to write")
    parser.add_argument("--units", choices=["m", "cm"], default="m", help="output units (default: m)")
    parser.add_argument("--up", choices=["y", "z"], default="y", help="output up axis (default: y, facing +Z)")
    parser.add_argument("--order", type=str.upper, choices=_ORDERS, default="ZXY",
                        help="Euler order of the rotation channels (default: ZXY)")


def run(args: argparse.Namespace) -> int:
    from phymo.data import bvh_to_motion, detect_family, read_bvh, write_bvh

    clip = read_bvh(args.input)
    family = detect_family(clip.names).name
    motion = bvh_to_motion(clip)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    write_bvh(args.output, motion, up=args.up, order=args.order, units=args.units)
    print(f"{args.input} ({family}, {clip.num_joints} joints) -> {args.output}")
    print(f"frames: {motion.num_frames}  fps: {motion.fps:.6g}  joints: {motion.skeleton.num_joints} "
          f"({', '.join(motion.skeleton.names)})  height: {motion.skeleton.height():.3f} m")
    return 0
