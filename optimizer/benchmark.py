"""Optimizer benchmark on held-out test-function instances (``phymo bench optimizers``); the physics windows
have their own, per evaluation (:mod:`phymo.optimizer.physics_bench`).

For each family and dimension, every optimizer runs ``K`` iterations from the same held-out
instances (seeds >= ``tasks.HELD_OUT_SEED``). Reported per (task, dim, optimizer): the median final
objective, the median number of iterations to reach the target (L-BFGS's final objective on the
same instance; ``None`` when most runs never reach it), and the mean wall time per iteration.
"""

from __future__ import annotations

import math
import statistics
import time
import warnings

import torch

from . import tasks as T
from .registry import make_optimizer

#: hyper-parameters of the hand-tuned baselines (Adam's learning rate chosen on training seeds,
#: see MODEL_CARD.md); learned optimizers have none.
BASELINE_KWARGS = {"adam": {"lr": 1.0}, "gd_momentum": {"lr": 1e-5}}
BENCH_OPTIMIZERS = ("optimus", "adam", "lbfgs", "bfgs", "gd_momentum", "adafac_mlp", "metz2020", "mnemosyne")


def run_one(name: str, task: T.Task, iters: int, nets: dict | None = None, device: str = "cpu",
            **kwargs) -> tuple[list[float], float]:
    """Run optimizer ``name`` on ``task`` for ``iters`` iterations.

    Returns the objective after each iteration (``iters + 1`` values, the first at ``x0``) and the
    mean wall time per iteration in milliseconds.
    """
    x = task.x0.detach().clone().to(device).requires_grad_(True)
    if nets and name in nets:
        kwargs = {**kwargs, "net": nets[name]}
    opt = make_optimizer(name, [x], **{**BASELINE_KWARGS.get(name, {}), **kwargs})

    def closure():
        opt.zero_grad()
        val = task.loss(x)
        val.backward()
        return val

    trace = [float(task.loss(x.detach()))]
    sync = torch.cuda.synchronize if x.is_cuda else (lambda: None)
    sync()
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(iters):
            opt.step(closure)
            with torch.no_grad():
                trace.append(float(task.loss(x)))
    sync()
    ms = (time.perf_counter() - t0) * 1e3 / max(iters, 1)
    return trace, ms


def first_below(trace: list[float], target: float) -> float:
    """First iteration whose objective is ``<= target`` (``inf`` if never)."""
    for k, v in enumerate(trace):
        if v <= target:
            return float(k)
    return math.inf


def compare(families, dim: int, iters: int, seeds: int, optimizers=BENCH_OPTIMIZERS, device: str = "cpu",
            nets: dict | None = None) -> list[dict]:
    """Rows for each family at one dimension (targets: L-BFGS's final value per instance)."""
    rows = []
    for fam in families:
        _, _, _, max_d = T.FAMILIES[fam]
        if max_d is not None and dim > max_d:
            continue
        insts = [T.make_task(fam, dim, T.HELD_OUT_SEED + s, device=device) for s in range(seeds)]
        runs = {}
        for name in ("lbfgs", *[o for o in optimizers if o != "lbfgs"]):
            if name == "bfgs" and dim > 4096:
                continue
            runs[name] = [run_one(name, t, iters, nets, device) for t in insts]
        targets = [tr[-1] for tr, _ in runs["lbfgs"]]
        for name in optimizers:
            if name not in runs:
                continue
            finals = [tr[-1] if math.isfinite(tr[-1]) else math.inf for tr, _ in runs[name]]
            hits = [first_below(tr, tg) for (tr, _), tg in zip(runs[name], targets, strict=True)]
            med_hit = statistics.median(hits)
            rows.append({"task": fam, "dim": dim, "optimizer": name, "final_loss_median": statistics.median(finals),
                         "iters_to_target": None if math.isinf(med_hit) else med_hit,
                         "ms_per_step": statistics.mean(ms for _, ms in runs[name]), "device": device,
                         "iters": iters, "seeds": seeds})
    return rows


def run(quick: bool) -> list[dict]:
    """Benchmark rows over held-out families and instances at d in {2, 10, 100, 1000}."""
    families = (*T.EVAL_FAMILIES, *T.HELD_OUT_FAMILIES)
    dims = (2, 10, 100) if quick else (2, 10, 100, 1000)
    iters, seeds = (100, 2) if quick else (500, 5)
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    rows = []
    for dev in devices:
        for d in dims:
            rows += compare(families, d, iters, seeds if d < 1000 else max(2, seeds // 2), device=dev)
    return rows
