"""Meta-train a learned optimizer (Optimus or a learned baseline) on a task suite.

``phymo meta-train --tasks functions --steps N --device cpu --out DIR`` writes ``DIR/config.json``,
``DIR/meta_loss.csv``, ``DIR/meta_train.log``, a resumable ``DIR/ckpt.pt`` and the final weights
``DIR/<optimizer>.pt`` (the shipped-weights format). ``--resume`` continues the run in ``DIR`` from its last
checkpoint; ``--hours`` bounds its wall time. With ``--validate-every N`` the run also scores its weights on
validation instances every N meta-steps (``DIR/validation.csv``) and exports the best-scoring ones instead of
the last. ``--tasks physics`` builds a pool of windows of the corpus's train split once (``DIR/pool`` or
``--pool-dir``, which runs may share) and validates on windows of its validation split.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
from pathlib import Path

from phymo.data import PhymoError

LOG = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--tasks", choices=["functions", "physics"], default="functions", help="task suite")
    parser.add_argument("--root", type=Path, default=None,
                        help="--tasks physics: mocap corpus folder (BVH files; train split for tasks)")
    parser.add_argument("--optimizer", choices=["optimus", "adafac_mlp", "metz2020", "mnemosyne"], default="optimus")
    parser.add_argument("--method", choices=["tbptt", "pes"], default="tbptt", help="meta-gradient estimator")
    parser.add_argument("--steps", type=int, default=1000, help="meta-steps")
    parser.add_argument("--hours", type=float, default=None,
                        help="wall-clock budget of the meta-training (building the window pool not counted)")
    parser.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    parser.add_argument("--ckpt-every", type=int, default=50, help="meta-steps between checkpoints")
    parser.add_argument("--pool-dir", type=Path, default=None,
                        help="--tasks physics: folder of the built window problems (default: OUT/pool)")
    parser.add_argument("--pool-size", type=int, default=64, help="--tasks physics: windows of the train split")
    parser.add_argument("--validate-windows", type=int, default=8,
                        help="--tasks physics: windows of the validation split scored by --validate-every")
    parser.add_argument("--n-tasks", type=int, default=4, help="inner problems in parallel")
    parser.add_argument("--trunc", type=int, default=16, help="truncation length (inner steps per meta-step)")
    parser.add_argument("--min-len", type=int, default=32, help="shortest inner trajectory (log-uniform)")
    parser.add_argument("--max-len", type=int, default=512, help="longest inner trajectory (log-uniform)")
    parser.add_argument("--dim-lo", type=int, default=2)
    parser.add_argument("--dim-hi", type=int, default=64)
    parser.add_argument("--outer-lr", type=float, default=1e-3)
    parser.add_argument("--pes-sigma", type=float, default=0.01)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu", help="where tasks and network run")
    parser.add_argument("--warm-start", type=Path, default=None,
                        help="optimus only: adafac_mlp weights to initialise the per-dimension branch from")
    parser.add_argument("--warm-lr", type=float, default=0.01, help="Adam base step after --warm-start")
    parser.add_argument("--init", type=Path, default=None,
                        help="weights of the same optimizer to continue from (e.g. the shipped ones)")
    parser.add_argument("--validate-every", type=int, default=0,
                        help="score on validation instances every N meta-steps and export the best (0: off)")
    parser.add_argument("--validate-iters", type=int, default=500, help="inner iterations per validation run")
    parser.add_argument("--out", type=Path, required=True, help="output folder of the run")


def run(args: argparse.Namespace) -> int:
    import torch

    from phymo.optimizer import LEARNED
    from phymo.optimizer import meta_train as M

    if args.device == "cuda" and not torch.cuda.is_available():
        raise PhymoError("meta-train --device cuda: no CUDA device visible; use --device cpu")
    if args.validate_every < 0 or args.validate_iters < 1:
        raise PhymoError(f"--validate-every must be >= 0 (0: off) and --validate-iters >= 1, got "
                         f"{args.validate_every} and {args.validate_iters}")
    if args.hours is not None and not args.hours > 0:
        raise PhymoError(f"--hours must be > 0, got {args.hours}")
    if min(args.ckpt_every, args.pool_size, args.validate_windows) < 1:
        raise PhymoError("--ckpt-every, --pool-size and --validate-windows must be at least 1")
    if (args.out / "ckpt.pt").exists() and not args.resume:
        raise PhymoError(f"{args.out} holds a meta-training run (ckpt.pt): pass --resume to continue it, or choose "
                         f"another --out")
    if args.resume and not (args.out / "ckpt.pt").exists():
        raise PhymoError(f"--resume: {args.out} holds no checkpoint (ckpt.pt) to continue from")
    if args.tasks == "physics" and args.root is None and not args.resume:
        raise PhymoError("meta-train --tasks physics needs --root, a folder of BVH files (e.g. ../shared/data); "
                         "its train split gives the windows, its validation split the validation windows")
    cfg = M.MetaTrainConfig(optimizer=args.optimizer, tasks=args.tasks, method=args.method, steps=args.steps,
                            data_root=None if args.root is None else str(args.root), n_tasks=args.n_tasks,
                            trunc=args.trunc, min_len=args.min_len, max_len=args.max_len, dim_lo=args.dim_lo,
                            dim_hi=args.dim_hi, outer_lr=args.outer_lr, pes_sigma=args.pes_sigma, seed=args.seed,
                            device=args.device, max_seconds=math.inf if args.hours is None else 3600 * args.hours,
                            ckpt_every=args.ckpt_every, validate_every=args.validate_every,
                            validate_iters=args.validate_iters,
                            pool_dir=None if args.pool_dir is None else str(args.pool_dir), pool_size=args.pool_size,
                            validate_windows=args.validate_windows,
                            init=next((str(w) for w in (args.init, args.warm_start) if w is not None), None))
    if args.init is not None and args.warm_start is not None:
        raise PhymoError("meta-train: give --init or --warm-start, not both")
    from phymo.optimizer import load_weights as load
    if args.resume:  # the run's own settings, its weights from the checkpoint; only the budget may be extended
        saved = json.loads((args.out / "config.json").read_text())
        cfg = M.MetaTrainConfig(**{**saved, "steps": cfg.steps, "max_seconds": cfg.max_seconds})
    net = LEARNED[cfg.optimizer]() if args.resume or args.init is None else load(args.init, expect=cfg.optimizer)
    if args.warm_start is not None and not args.resume:
        if cfg.optimizer != "optimus":
            raise PhymoError("meta-train --warm-start: only --optimizer optimus can be warm-started")
        from phymo.optimizer import warm_start_from_adafac
        warm_start_from_adafac(net, load(args.warm_start, expect="adafac_mlp"), args.warm_lr)
        LOG.info("optimus per-dimension branch warm-started from %s", args.warm_start)
    net = M.meta_train(net, cfg, args.out, log=LOG.info)
    ck = torch.load(args.out / "ckpt.pt", map_location="cpu", weights_only=False)
    net, chosen = M.best_or_last(net, args.out)
    meta = {"tasks": cfg.tasks, "meta_steps": ck["step"], "seconds": round(ck["elapsed"]),
            "init": cfg.init, **chosen,
            "validation": _rows(args.out / "validation.csv"),
            "config": json.loads((args.out / "config.json").read_text())}
    M.export(net, args.out / f"{cfg.optimizer}.pt", meta)
    pick = f" (validation-best: meta-step {chosen['meta_step']})" if chosen else ""
    print(f"meta-train: {ck['step']} meta-steps in {ck['elapsed']:.0f} s -> {args.out / (cfg.optimizer + '.pt')}"
          f"{pick}")
    return 0


def _rows(csv: Path) -> list[list[float]]:
    """``[[meta-step, score], ...]`` of a run's validation curve (empty without one), for the model card."""
    if not csv.exists():
        return []
    return [[int(r.split(",")[0]), float(r.split(",")[1])] for r in csv.read_text().splitlines()[1:]]
