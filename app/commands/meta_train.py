"""Meta-train a learned optimizer (Optimus or a learned baseline) on a task suite.

``phymo meta-train --tasks functions --steps N --device cpu --out DIR`` writes ``DIR/config.json``,
``DIR/meta_loss.csv``, a resumable ``DIR/ckpt.pt`` and the final weights ``DIR/<optimizer>.pt``
(the shipped-weights format). Re-running with the same ``--out`` resumes. With ``--validate-every N`` the
run also scores its weights on validation instances every N meta-steps (``DIR/validation.csv``) and
exports the best-scoring ones instead of the last.
"""

from __future__ import annotations

import argparse
import json
import logging
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
    parser.add_argument("--max-seconds", type=float, default=float("inf"), help="wall-clock budget")
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
    parser.add_argument("--out", type=Path, required=True, help="output folder (resumes if it has ckpt.pt)")


def run(args: argparse.Namespace) -> int:
    import torch

    from phymo.optimizer import LEARNED
    from phymo.optimizer import meta_train as M

    if args.device == "cuda" and not torch.cuda.is_available():
        raise PhymoError("meta-train --device cuda: no CUDA device visible; use --device cpu")
    if args.validate_every < 0 or args.validate_iters < 1:
        raise PhymoError(f"--validate-every must be >= 0 (0: off) and --validate-iters >= 1, got "
                         f"{args.validate_every} and {args.validate_iters}")
    if args.tasks == "physics" and args.root is None:
        raise PhymoError("meta-train --tasks physics needs --root, a folder of BVH files (e.g. ../shared/data); "
                         "its train split gives the windows, its validation split the validation windows")
    cfg = M.MetaTrainConfig(optimizer=args.optimizer, tasks=args.tasks, method=args.method, steps=args.steps,
                            data_root=None if args.root is None else str(args.root), n_tasks=args.n_tasks,
                            trunc=args.trunc, min_len=args.min_len, max_len=args.max_len, dim_lo=args.dim_lo,
                            dim_hi=args.dim_hi, outer_lr=args.outer_lr, pes_sigma=args.pes_sigma, seed=args.seed,
                            device=args.device, max_seconds=args.max_seconds, validate_every=args.validate_every,
                            validate_iters=args.validate_iters)
    from phymo.optimizer import load_weights as load
    if args.init is not None and args.warm_start is not None:
        raise PhymoError("meta-train: give --init or --warm-start, not both")
    net = LEARNED[args.optimizer]() if args.init is None else load(args.init, expect=args.optimizer)
    if args.warm_start is not None:
        if args.optimizer != "optimus":
            raise PhymoError("meta-train --warm-start: only --optimizer optimus can be warm-started")
        from phymo.optimizer import warm_start_from_adafac
        warm_start_from_adafac(net, load(args.warm_start, expect="adafac_mlp"), args.warm_lr)
        LOG.info("optimus per-dimension branch warm-started from %s", args.warm_start)
    net = M.meta_train(net, cfg, args.out, log=LOG.info)
    ck = torch.load(args.out / "ckpt.pt", map_location="cpu", weights_only=False)
    net, chosen = M.best_or_last(net, args.out)
    meta = {"tasks": args.tasks, "meta_steps": ck["step"], "seconds": round(ck["elapsed"]),
            "init": None if args.init is None else str(args.init), **chosen,
            "config": json.loads((args.out / "config.json").read_text())}
    M.export(net, args.out / f"{args.optimizer}.pt", meta)
    pick = f" (validation-best: meta-step {chosen['meta_step']})" if chosen else ""
    print(f"meta-train: {ck['step']} meta-steps in {ck['elapsed']:.0f} s -> {args.out / (args.optimizer + '.pt')}"
          f"{pick}")
    return 0
