"""Meta-training of learned optimizers: truncated BPTT and antithetic PES over truncated unrolls.

A pool of ``n_tasks`` inner problems runs in parallel; each has an inner length drawn log-uniformly
from ``[min_len, max_len]`` and is advanced ``trunc`` steps per meta-step, then replaced when done.
The meta-loss of a truncation is the mean over its steps of ``log(f(x_t) + 1e-8) - log(f(x_0) + 1e-8)``
(scale-free across families). Estimators:

* ``tbptt``: backprop through the truncation. Gradients of the inner loss are inputs (not
  differentiated through: first-order, the usual stop-gradient of learned_optimization), the loss
  values ``f(x_t)`` are differentiated through ``x_t``.
* ``pes``: persistent evolution strategies (Vicol, Metz, Sohl-Dickstein 2021) with antithetic
  pairs: each pair keeps its own ``+``/``-`` particles and the accumulated perturbation ``xi``;
  ``grad ~ sum_i xi_i (L+_i - L-_i) / (2 N sigma^2)``.

The outer optimizer is Adam. ``out/ckpt.pt`` (weights, outer state, step, RNG, log) makes runs
resumable; ``out/meta_loss.csv`` logs the meta-loss; the final weights go through
:func:`phymo.optimizer.weights.save`.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch.func import functional_call

from . import tasks as T
from . import weights as W


@dataclass(frozen=True)
class MetaTrainConfig:
    optimizer: str = "optimus"
    method: str = "tbptt"          # "tbptt" or "pes"
    steps: int = 1000
    n_tasks: int = 4
    trunc: int = 16
    min_len: int = 32
    max_len: int = 512
    dim_lo: int = 2
    dim_hi: int = 32
    outer_lr: float = 1e-3
    grad_clip: float = 1.0
    pes_sigma: float = 0.01
    seed: int = 0
    device: str = "cpu"
    ckpt_every: int = 50
    max_seconds: float = float("inf")


class _Worker:
    """One inner problem in flight: task, iterate, optimizer state and steps left."""

    def __init__(self, net, gen, cfg, dtype):
        self.task = T.sample_training_task(gen, (cfg.dim_lo, cfg.dim_hi), dtype=dtype, device=cfg.device)
        u = torch.empty(1).uniform_(math.log(cfg.min_len), math.log(cfg.max_len), generator=gen).item()
        self.left = int(math.exp(u))
        self.x = self.task.x0.clone()
        self.state = net.init_state(self.x)
        self.f0 = float(self.task.loss(self.x))


def _unroll(net, params, w: _Worker, trunc: int, differentiable: bool):
    """Advance ``w`` by ``trunc`` steps with weights ``params``; return the truncation meta-loss."""
    x, state, total = w.x, w.state, 0.0
    ref = math.log(abs(w.f0) + 1e-8)
    n = min(trunc, w.left)
    for _ in range(n):
        if differentiable:
            xg = x if x.requires_grad else x.detach().requires_grad_(True)
            val = w.task.loss(xg)
            (g,) = torch.autograd.grad(val, xg, retain_graph=True)
        else:
            val, g = w.task.loss_and_grad(x)
        state, delta = functional_call(net, params, (state, x, g.detach(), val.detach()), strict=False) \
            if params is not None else net.step(state, x, g.detach(), val.detach())
        x = x + delta
        total = total + torch.log(val.clamp(min=0) + 1e-8) - ref
    w.x, w.state, w.left = x, state, w.left - n
    return total / n


def _detach(w: _Worker):
    w.x = w.x.detach()
    w.state = {k: v.detach() for k, v in w.state.items()}


def meta_train(net: torch.nn.Module, cfg: MetaTrainConfig, out: Path, log=print) -> torch.nn.Module:
    """Meta-train ``net`` (float64, on ``cfg.device``); resumes from ``out/ckpt.pt`` if present."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.json").write_text(json.dumps(asdict(cfg), indent=2, default=str))
    net = net.to(device=cfg.device, dtype=torch.float64)
    scalars = [p for k, p in net.named_parameters() if p.ndim == 0]       # global scales (log_lr) move 10x faster
    others = [p for k, p in net.named_parameters() if p.ndim > 0]
    outer = torch.optim.Adam([{"params": others}, {"params": scalars, "lr": 10 * cfg.outer_lr}], lr=cfg.outer_lr)
    gen = torch.Generator().manual_seed(cfg.seed)
    torch.manual_seed(cfg.seed)
    step, elapsed = 0, 0.0
    ckpt = out / "ckpt.pt"
    if ckpt.exists():
        c = torch.load(ckpt, map_location="cpu", weights_only=False)
        net.load_state_dict(c["net"])
        outer.load_state_dict(c["outer"])
        gen.set_state(c["gen"])
        step, elapsed = c["step"], c["elapsed"]
        log(f"resumed from {ckpt} at meta-step {step}")
    t_start = time.time() - elapsed
    dtype = torch.float64
    if cfg.method == "tbptt":
        workers = [_Worker(net, gen, cfg, dtype) for _ in range(cfg.n_tasks)]
    elif cfg.method == "pes":
        names = [k for k, _ in net.named_parameters()]
        pairs = [_pes_pair(net, gen, cfg, dtype, names) for _ in range(cfg.n_tasks)]
    else:
        raise ValueError(f"unknown meta-training method {cfg.method!r} (tbptt or pes)")
    csv = open(out / "meta_loss.csv", "a")
    if step == 0:
        csv.write("step,seconds,meta_loss\n")
    while step < cfg.steps and time.time() - t_start < cfg.max_seconds:
        outer.zero_grad()
        if cfg.method == "tbptt":
            losses = []
            for i, w in enumerate(workers):
                ml = _unroll(net, None, w, cfg.trunc, differentiable=True)
                if torch.isfinite(ml):
                    losses.append(ml)
                _detach(w)
                if w.left <= 0 or not torch.isfinite(ml) or not torch.isfinite(w.x).all():
                    workers[i] = _Worker(net, gen, cfg, dtype)
            if not losses:
                continue
            meta_loss = torch.stack(losses).mean()
            meta_loss.backward()
            mval = float(meta_loss.detach())
        else:
            mval = _pes_step(net, pairs, gen, cfg, dtype, names)
        torch.nn.utils.clip_grad_norm_(net.parameters(), cfg.grad_clip)
        outer.step()
        step += 1
        csv.write(f"{step},{time.time() - t_start:.1f},{mval:.5f}\n")
        csv.flush()
        if step % cfg.ckpt_every == 0 or step == cfg.steps:
            _save_ckpt(ckpt, net, outer, gen, step, time.time() - t_start)
            log(f"meta-step {step}: meta-loss {mval:.4f} ({time.time() - t_start:.0f} s)")
    _save_ckpt(ckpt, net, outer, gen, step, time.time() - t_start)
    csv.close()
    return net


def _save_ckpt(path, net, outer, gen, step, elapsed):
    tmp = path.with_suffix(".tmp")
    torch.save({"net": net.state_dict(), "outer": outer.state_dict(), "gen": gen.get_state(),
                "step": step, "elapsed": elapsed}, tmp)
    tmp.replace(path)


def _pes_pair(net, gen, cfg, dtype, names):
    w = _Worker(net, gen, cfg, dtype)
    wm = _Worker.__new__(_Worker)
    wm.__dict__.update(w.__dict__)
    xi = {k: torch.zeros_like(p) for k, p in net.named_parameters()}
    return {"plus": w, "minus": wm, "xi": xi}


def _pes_step(net, pairs, gen, cfg, dtype, names) -> float:
    """One antithetic PES estimate written into ``.grad``; returns the mean of ``(L+ + L-)/2``."""
    base = {k: p.detach() for k, p in net.named_parameters()}
    grads = {k: torch.zeros_like(p) for k, p in base.items()}
    total, n = 0.0, 0
    with torch.no_grad():
        for i, pr in enumerate(pairs):
            eps = {k: cfg.pes_sigma * torch.randn(p.shape, generator=gen, dtype=p.dtype).to(p.device)
                   for k, p in base.items()}
            lp = _unroll(net, {k: base[k] + eps[k] for k in base}, pr["plus"], cfg.trunc, False)
            lm = _unroll(net, {k: base[k] - eps[k] for k in base}, pr["minus"], cfg.trunc, False)
            ok = torch.isfinite(lp) and torch.isfinite(lm)
            if ok:
                for k in base:
                    pr["xi"][k] += eps[k]
                    grads[k] += pr["xi"][k] * float(lp - lm) / (2 * cfg.pes_sigma ** 2)
                total += 0.5 * float(lp + lm)
                n += 1
            if pr["plus"].left <= 0 or not ok:
                pairs[i] = _pes_pair(net, gen, cfg, dtype, names)
    for k, p in net.named_parameters():
        p.grad = grads[k] / max(n, 1)
    return total / max(n, 1)


def export(net: torch.nn.Module, path: Path, meta: dict) -> None:
    """Write shipped weights (float32, with architecture/version header) via :mod:`weights`."""
    W.save(net, path, meta)
