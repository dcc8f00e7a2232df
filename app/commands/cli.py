"""The ``phymo`` command line: an explicit registry of sub-commands, each in its own module.

A command module (``phymo.app.commands.<name>``) exposes ``add_arguments(parser)`` and ``run(args) -> int``
and keeps heavy imports (torch, mujoco, mediapipe) inside ``run`` so that ``phymo --help`` starts fast.
Errors a user can cause arrive as :class:`phymo.data.PhymoError` and end in one line and exit code 2; a
setting that cannot work (:class:`phymo.data.ConfigError`) is named by its option there.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from phymo import __version__
from phymo.data import ConfigError, PhymoError

from .options import option_name

#: sub-command name -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "reconstruct": ("phymo.app.commands.reconstruct", "video (or keypoints) -> physically plausible 3D motion"),
    "demo": ("phymo.app.commands.demo", "the whole pipeline on the shipped clip (or a synthesized walk), scored"),
    "detect": ("phymo.app.commands.detect", "detect 2D keypoints in a video and write them as npz"),
    "bench": ("phymo.app.commands.bench", "run a benchmark, print its table and write JSON"),
    "retarget": ("phymo.app.commands.retarget", "retarget a mocap BVH clip to the canonical skeleton"),
    "evaluate": ("phymo.app.commands.evaluate",
                 "evaluate physics against ground truth on a dataset (sequential or Ray)"),
    "meta-train": ("phymo.app.commands.meta_train", "meta-train a learned optimizer (Optimus or a baseline) with PES"),
    "train-lifter": ("phymo.app.commands.train_lifter", "train the 2D -> 3D lifter (the fit's 3D prior) on mocap"),
}


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser; only ``command``'s module is imported and given its arguments (some options are made from
    the settings' dataclasses, whose modules import torch and MuJoCo), so ``phymo --help`` stays fast."""
    parser = argparse.ArgumentParser(prog="phymo", description="Physically plausible 3D human motion from video.")
    parser.add_argument("--version", action="version", version=f"phymo {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (module, help_text) in COMMANDS.items():
        if name != command:
            sub.add_parser(name, help=help_text)
            continue
        mod = importlib.import_module(module)
        p = sub.add_parser(name, help=help_text, description=(mod.__doc__ or help_text).strip().splitlines()[0])
        mod.add_arguments(p)
        p.set_defaults(_module=mod)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser(next((a for a in argv if not a.startswith("-")), None)).parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        return int(args._module.run(args) or 0)
    except PhymoError as exc:
        message = f"{option_name(exc.setting)} {exc.problem}" if isinstance(exc, ConfigError) else exc
        print(f"phymo {args.command}: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"phymo {args.command}: interrupted; finished results are kept", file=sys.stderr)
        return 130
