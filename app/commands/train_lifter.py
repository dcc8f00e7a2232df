"""Train the temporal 2D -> 3D lifter on a mocap corpus's train split, on the CPU.

``phymo train-lifter --root ../shared/data --out DIR`` writes ``DIR/config.json``, ``DIR/train_lifter.log``,
``DIR/curve.csv``, a resumable ``DIR/ckpt.pt`` and the validation-best weights ``DIR/lifter.pt`` (the shipped
format; copy it to ``pose/weights/lifter.pt`` to ship it). ``--hours`` bounds the wall time (the learning rate
decays over it); ``--resume`` continues the run in ``DIR`` with its saved settings, for the ``--hours`` given.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from phymo.data import PhymoError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--root", type=Path, default=None, help="mocap corpus folder (BVH files; train split for "
                        "training, validation split for choosing the weights)")
    parser.add_argument("--out", type=Path, required=True, help="output folder of the run")
    parser.add_argument("--hours", type=float, default=1.5, help="wall-clock budget (at most 2 h is the target)")
    parser.add_argument("--steps", type=int, default=None, help="stop after this many steps (default: the budget)")
    parser.add_argument("--resume", action="store_true", help="continue the run in --out from its checkpoint")
    parser.add_argument("--batch", type=int, default=96, help="windows per step")
    parser.add_argument("--channels", type=int, default=256, help="channels of the temporal convolutions")
    parser.add_argument("--lr", type=float, default=1e-3, help="Adam's initial learning rate (cosine decay)")
    parser.add_argument("--validate-every", type=int, default=250, help="steps between validation scores")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2, help="CPU threads of torch")


def run(args: argparse.Namespace) -> int:
    from phymo.pose.lifter import LifterShape
    from phymo.pose.lifter_train import LifterTrainConfig, train

    if not args.hours > 0:
        raise PhymoError(f"--hours must be > 0, got {args.hours}")
    if args.steps is not None and args.steps < 1:
        raise PhymoError(f"--steps must be at least 1, got {args.steps}")
    if args.root is None and not args.resume:
        raise PhymoError("train-lifter needs --root, a folder of BVH files (e.g. ../shared/data)")
    cfg = LifterTrainConfig(root=str(args.root), shape=LifterShape(channels=args.channels), batch=args.batch,
                            lr=args.lr, hours=args.hours, steps=args.steps, validate_every=args.validate_every,
                            seed=args.seed, threads=args.threads)
    path = train(cfg, args.out, resume=args.resume)
    print(f"train-lifter: weights -> {path}")
    return 0
