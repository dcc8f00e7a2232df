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

Meta-training is noisy and does not improve monotonically (the first shipped Optimus was better at
meta-step 200 than at 2848), so with ``validate_every`` the run scores its weights on validation
instances (:func:`validation_tasks`: seeds reserved for this, never trained on, never reported) at
the start and every ``validate_every`` meta-steps, logs the scores to ``out/validation.csv`` and keeps
the best-scoring weights in ``out/best.pt``; :func:`best_or_last` picks what to export.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch.func import functional_call

from . import tasks as T
from . import weights as W


@dataclass(frozen=True)
class MetaTrainConfig:
    """``tasks``: "functions" (:mod:`tasks`) or "physics" (:mod:`physics_tasks`: a pool of ``pool_size`` windows
    of the train split of the mocap corpus at ``data_root``, kept in ``pool_dir``; ``dim_lo``/``dim_hi`` do not
    apply). ``max_seconds`` bounds the meta-training's wall time (building the pool is not counted)."""

    optimizer: str = "optimus"
    tasks: str = "functions"
    data_root: str | None = None
    pool_dir: str | None = None     # physics: where the window problems are kept (default: <out>/pool)
    pool_size: int = 64             # physics: windows of the train split drawn from
    validate_windows: int = 8       # physics: windows of the validation split scored
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
    validate_every: int = 0         # 0: no validation (export the last weights)
    validate_iters: int = 500       # inner iterations of each validation run
    validate_dim: int = 100
    validate_seeds: int = 2         # instances per evaluation family
    init: str | None = None         # the weights the run started from (recorded, so that a resumed run names them)


def _window_cache(cfg: MetaTrainConfig, out: Path):
    from .physics_tasks import WindowCache

    return WindowCache(cfg.pool_dir or out / "pool")


def validation_tasks(cfg: MetaTrainConfig, out: Path | None = None) -> list[T.Task]:
    """The fixed validation set. Functions: ``validate_seeds`` instances of each evaluation family at
    ``validate_dim``, seeds from :data:`~phymo.optimizer.tasks.VALIDATION_SEED` (disjoint from training and
    held-out seeds). Physics: ``validate_windows`` windows spread over the corpus's validation split (observation
    seed 0), kept in the pool's cache (``out``: the run's folder); a window whose planner diverges is left out."""
    if cfg.tasks == "physics":
        from .physics_tasks import TaskPool

        pool = TaskPool(cfg.data_root, "validation", cfg.validate_windows, _window_cache(cfg, Path(out or ".")),
                        seeds=1)
        pool.build()
        return [pool.task(i, cfg.device) for i, w in enumerate(pool.windows) if pool.cache.path(w).exists()]
    return [T.make_task(fam, cfg.validate_dim, T.VALIDATION_SEED + s, device=cfg.device)
            for fam in T.EVAL_FAMILIES for s in range(cfg.validate_seeds)]


def task_sampler(cfg: MetaTrainConfig, out: Path | None = None, log=print) -> Callable[[torch.Generator], T.Task]:
    """``gen -> task``: draws meta-training tasks of the configured suite (float64). Physics: builds the train
    split's pool first (in ``out``'s cache unless ``pool_dir``), with a progress bar."""
    if cfg.tasks == "physics":
        from tqdm import tqdm

        from .physics_tasks import TaskPool

        pool = TaskPool(cfg.data_root, "train", cfg.pool_size, _window_cache(cfg, Path(out or ".")))
        with tqdm(total=len(pool.windows), desc="window pool", unit="window") as bar:
            pool.build(lambda i, n: bar.update(i - bar.n))
        log(f"window pool: {len(pool.windows)} windows of the train split in {pool.cache.folder}")
        return lambda gen: pool.draw(gen, cfg.device)
    return lambda gen: T.sample_training_task(gen, (cfg.dim_lo, cfg.dim_hi), dtype=torch.float64, device=cfg.device)


def validation_score(net: torch.nn.Module, tasks: list[T.Task], iters: int, best: bool = False) -> float:
    """Mean over ``tasks`` of ``log10(f(x_K) + 1e-12) - log10(f(x_0) + 1e-12)`` after ``iters`` steps (lower is
    better), run as the benchmark runs it (:func:`~phymo.optimizer.benchmark.run_one`). The last iterate
    counts, or with ``best`` the lowest (what the physics reconstruction keeps); a run that diverges counts its
    best finite value."""
    from .benchmark import run_one

    name = net.arch()["name"]
    scores = []
    for task in tasks:
        trace, _ = run_one(name, task, iters, {name: net})
        finite = [v for v in trace if math.isfinite(v)]
        final = min(finite) if best or not math.isfinite(trace[-1]) else trace[-1]
        scores.append(math.log10(max(final, 0.0) + 1e-12) - math.log10(max(trace[0], 0.0) + 1e-12))
    return sum(scores) / len(scores)


class _Worker:
    """One inner problem in flight: task, iterate, optimizer state and steps left. ``drawn_with`` is the generator
    state it was drawn with, so that a checkpoint can draw the same task again (:meth:`snapshot`,
    :meth:`restore`)."""

    def __init__(self, net, gen, cfg, draw):
        self.drawn_with = gen.get_state()
        self.task = draw(gen)
        u = torch.empty(1).uniform_(math.log(cfg.min_len), math.log(cfg.max_len), generator=gen).item()
        self.left = int(math.exp(u))
        self.x = self.task.x0.clone()
        self.state = net.init_state(self.x)
        self.f0 = float(self.task.loss(self.x))

    def snapshot(self) -> dict:
        return {"drawn_with": self.drawn_with, "x": self.x.detach().cpu(), "left": self.left, "f0": self.f0,
                "state": {k: v.detach().cpu() for k, v in self.state.items()}}

    @classmethod
    def restore(cls, snap: dict, net, cfg, draw) -> _Worker:
        gen = torch.Generator()
        gen.set_state(snap["drawn_with"])
        w = cls.__new__(cls)
        w.drawn_with, w.task = snap["drawn_with"], draw(gen)
        w.left, w.f0 = snap["left"], snap["f0"]
        w.x = snap["x"].to(cfg.device)
        w.state = {k: v.to(cfg.device) for k, v in snap["state"].items()}
        return w


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
    """Meta-train ``net`` (float64, on ``cfg.device``); resumes from ``out/ckpt.pt`` if present, with the inner
    problems in flight, the generators and the outer optimizer as they were, so that a resumed run continues
    as the uninterrupted one would have. Shows a progress bar (meta-steps, or the wall-clock budget when that
    binds) and appends what it logs to ``out/meta_train.log``."""
    if cfg.tasks not in ("functions", "physics"):
        raise ValueError(f"unknown task suite {cfg.tasks!r} (functions or physics)")
    if cfg.tasks == "physics" and cfg.data_root is None:
        raise ValueError("the physics task suite needs data_root (a folder of BVH files)")
    out.mkdir(parents=True, exist_ok=True)
    log = _logging_to(out / "meta_train.log", log)
    (out / "config.json").write_text(json.dumps(asdict(cfg), indent=2, default=str))
    net = net.to(device=cfg.device, dtype=torch.float64)
    scalars = [p for k, p in net.named_parameters() if p.ndim == 0]       # global scales (log_lr) move 10x faster
    others = [p for k, p in net.named_parameters() if p.ndim > 0]
    outer = torch.optim.Adam([{"params": others}, {"params": scalars, "lr": 10 * cfg.outer_lr}], lr=cfg.outer_lr)
    gen = torch.Generator().manual_seed(cfg.seed)
    torch.manual_seed(cfg.seed)
    draw = task_sampler(cfg, out, log)
    validator = _Validator(cfg, out, log) if cfg.validate_every > 0 else None
    step, elapsed, flight = 0, 0.0, None
    ckpt = out / "ckpt.pt"
    if ckpt.exists():
        c = torch.load(ckpt, map_location="cpu", weights_only=False)
        net.load_state_dict(c["net"])
        outer.load_state_dict(c["outer"])
        gen.set_state(c["gen"])
        torch.set_rng_state(c["torch_rng"])
        step, elapsed, flight = c["step"], c["elapsed"], c["in_flight"]
        _drop_rows_after(out / "meta_loss.csv", step)
        if validator is not None:
            validator.forget_after(step)
        log(f"resumed from {ckpt} at meta-step {step} ({elapsed:.0f} s)")
    if cfg.method == "tbptt":
        workers = [_Worker.restore(f, net, cfg, draw) for f in flight] if flight is not None \
            else [_Worker(net, gen, cfg, draw) for _ in range(cfg.n_tasks)]
    elif cfg.method == "pes":
        names = [k for k, _ in net.named_parameters()]
        pairs = [_pes_restore(f, net, cfg, draw) for f in flight] if flight is not None \
            else [_pes_pair(net, gen, cfg, draw, names) for _ in range(cfg.n_tasks)]
    else:
        raise ValueError(f"unknown meta-training method {cfg.method!r} (tbptt or pes)")

    def in_flight():
        return [w.snapshot() for w in workers] if cfg.method == "tbptt" else \
            [{"plus": p["plus"].snapshot(), "minus": p["minus"].snapshot(), "xi": p["xi"]} for p in pairs]

    csv_path = out / "meta_loss.csv"
    if not csv_path.exists():
        csv_path.write_text("step,seconds,meta_loss\n")
    csv = open(csv_path, "a")
    if validator is not None and step == 0 and not validator.scored(0):
        validator(net, step)
    t_start = time.time() - elapsed
    bar = _ProgressBar(cfg, step, elapsed)
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
                    workers[i] = _Worker(net, gen, cfg, draw)
            if not losses:
                continue
            meta_loss = torch.stack(losses).mean()
            meta_loss.backward()
            mval = float(meta_loss.detach())
        else:
            mval = _pes_step(net, pairs, gen, cfg, draw, names)
        torch.nn.utils.clip_grad_norm_(net.parameters(), cfg.grad_clip)
        outer.step()
        step += 1
        csv.write(f"{step},{time.time() - t_start:.1f},{mval:.5f}\n")
        csv.flush()
        bar.update(step, time.time() - t_start, mval)
        if validator is not None and step % cfg.validate_every == 0:
            validator(net, step)
        if step % cfg.ckpt_every == 0 or step == cfg.steps:
            _save_ckpt(ckpt, net, outer, gen, step, time.time() - t_start, in_flight())
            log(f"meta-step {step}: meta-loss {mval:.4f} ({time.time() - t_start:.0f} s)")
    bar.close()
    _save_ckpt(ckpt, net, outer, gen, step, time.time() - t_start, in_flight())
    csv.close()
    return net


def _logging_to(path: Path, log):
    """``log`` that also appends each message, timestamped, to ``path``."""
    def both(msg: str) -> None:
        with open(path, "a") as f:
            f.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {msg}\n")
        log(msg)
    return both


def _drop_rows_after(csv: Path, step: int) -> None:
    """Remove the rows of steps after ``step`` (written after the checkpoint a run resumes from)."""
    if csv.exists():
        lines = csv.read_text().splitlines()
        csv.write_text("\n".join([lines[0], *(r for r in lines[1:] if int(r.split(",")[0]) <= step)]) + "\n")


class _ProgressBar:
    """A tqdm bar over meta-steps, or over the wall-clock budget's seconds when that is what ends the run."""

    def __init__(self, cfg: MetaTrainConfig, step: int, elapsed: float):
        from tqdm import tqdm

        self.by_time = math.isfinite(cfg.max_seconds)
        total = round(cfg.max_seconds) if self.by_time else cfg.steps
        self.bar = tqdm(total=total, initial=min(round(elapsed), total) if self.by_time else step,
                        unit="s" if self.by_time else "step", desc="meta-train")

    def update(self, step: int, seconds: float, meta_loss: float) -> None:
        self.bar.update((min(round(seconds), self.bar.total) if self.by_time else step) - self.bar.n)
        self.bar.set_postfix(step=step, meta_loss=f"{meta_loss:.4f}")

    def close(self) -> None:
        self.bar.close()


class _Validator:
    """Scores the weights on :func:`validation_tasks`, appends to ``validation.csv``, keeps the best in ``best.pt``."""

    def __init__(self, cfg: MetaTrainConfig, out: Path, log):
        self.tasks, self.iters, self.out, self.log = validation_tasks(cfg, out), cfg.validate_iters, out, log
        self.best_iterate = cfg.tasks == "physics"  # the reconstruction keeps a window's best iterate
        self.csv = out / "validation.csv"
        if not self.csv.exists():
            self.csv.write_text("step,score\n")

    def rows(self) -> list[tuple[int, float]]:
        return [(int(r.split(",")[0]), float(r.split(",")[1])) for r in self.csv.read_text().splitlines()[1:]]

    def scored(self, step: int) -> bool:
        return any(s == step for s, _ in self.rows())

    def forget_after(self, step: int) -> None:
        _drop_rows_after(self.csv, step)

    def __call__(self, net: torch.nn.Module, step: int) -> None:
        best = min((v for _, v in self.rows()), default=math.inf)
        score = validation_score(net, self.tasks, self.iters, best=self.best_iterate)
        with open(self.csv, "a") as f:
            f.write(f"{step},{score:.5f}\n")
        if score < best:
            best = score
            W.save(net, self.out / "best.pt", {"meta_step": step, "validation_score": score})
        self.log(f"meta-step {step}: validation score {score:.4f} (best {best:.4f})")


def best_or_last(net: torch.nn.Module, out: Path) -> tuple[torch.nn.Module, dict]:
    """The validation-best weights of the run in ``out`` if it validated, else ``net`` (the last weights)."""
    if (out / "best.pt").is_file():
        best = W.load(out / "best.pt", expect=net.arch()["name"])
        blob = torch.load(out / "best.pt", map_location="cpu", weights_only=True)
        return best, blob["meta"]
    return net, {}


def _save_ckpt(path, net, outer, gen, step, elapsed, in_flight):
    tmp = path.with_suffix(".tmp")
    torch.save({"net": net.state_dict(), "outer": outer.state_dict(), "gen": gen.get_state(),
                "torch_rng": torch.get_rng_state(), "step": step, "elapsed": elapsed, "in_flight": in_flight}, tmp)
    tmp.replace(path)


def _antithetic(w: _Worker) -> _Worker:
    """The ``-`` particle of ``w``: the same task, iterate, state and steps left, advanced apart from it."""
    twin = _Worker.__new__(_Worker)
    twin.__dict__.update(w.__dict__)
    return twin


def _pes_pair(net, gen, cfg, draw, names):
    w = _Worker(net, gen, cfg, draw)
    xi = {k: torch.zeros_like(p) for k, p in net.named_parameters()}
    return {"plus": w, "minus": _antithetic(w), "xi": xi}


def _pes_restore(snap: dict, net, cfg, draw) -> dict:
    plus = _Worker.restore(snap["plus"], net, cfg, draw)
    minus = _antithetic(plus)
    minus.x = snap["minus"]["x"].to(cfg.device)
    minus.state = {k: v.to(cfg.device) for k, v in snap["minus"]["state"].items()}
    minus.left = snap["minus"]["left"]
    return {"plus": plus, "minus": minus, "xi": snap["xi"]}


def _pes_step(net, pairs, gen, cfg, draw, names) -> float:
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
                pairs[i] = _pes_pair(net, gen, cfg, draw, names)
    for k, p in net.named_parameters():
        p.grad = grads[k] / max(n, 1)
    return total / max(n, 1)


def export(net: torch.nn.Module, path: Path, meta: dict) -> None:
    """Write shipped weights (float32, with architecture/version header) via :mod:`weights`."""
    W.save(net, path, meta)
