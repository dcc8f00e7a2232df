"""Timing of the differentiable rollout: ``run(quick) -> list[dict]`` (wired to ``phymo bench physics``).

The first row is the default configuration (1 s window at 30 fps, 7 sub-steps of 4.76 ms, forward
differences for the state Jacobian, closed-form control Jacobian, all CPUs); the other rows each
change one setting so its effect on ``grad_ms`` can be read against the first row. Variants measured
worse and removed from the code (centred differences, reused or per-frame Jacobians) are in
docs/results.md.
"""

from __future__ import annotations

import time

import numpy as np
import torch

from phymo.data import walking_motion

from .adjoint import Simulator, default_threads, differentiable_rollout
from .body import BodyConfig, build_body, motion_to_qpos, qpos_to_qvel


def _best_ms(fn, repeats: int) -> float:
    best = np.inf
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return 1e3 * best


def _setup(fps=30.0, seconds=1.0):
    body = build_body(config=BodyConfig())
    motion = walking_motion(seconds + 0.5, fps, skeleton=body.skeleton)
    qpos = motion_to_qpos(body, motion)
    return body, qpos, qpos_to_qvel(body, qpos, 1.0 / fps)


def gradcheck_rel_err(seed: int = 0) -> float:
    """Worst relative error of adjoint directional derivatives vs central differences (3 directions)."""
    rng = np.random.default_rng(seed)
    body, qpos, qvel = _setup()
    sim = Simulator(body, 5, 30.0, substeps=4, knot_every=2, threads=2)
    knots = torch.tensor(rng.normal(0, 0.05, (sim.num_knots, body.nu)), requires_grad=True)
    x0 = torch.tensor(np.concatenate([np.zeros(body.nv), qvel[0]]), requires_grad=True)
    w = torch.tensor(rng.normal(size=(5, body.skeleton.num_joints, 3)))

    def loss(x, k):
        pos = differentiable_rollout(sim, qpos[0], x, k)
        return (w * pos).sum() + 10 * ((pos[..., 2] - 0.05) ** 2).sum()

    loss(x0, knots).backward()
    worst, h = 0.0, 1e-6
    for _ in range(3):
        dk, dx = torch.tensor(rng.normal(size=knots.shape)), 0.1 * torch.tensor(rng.normal(size=x0.shape))
        adj = float((knots.grad * dk).sum() + (x0.grad * dx).sum())
        with torch.no_grad():
            fd = float(loss(x0 + h * dx, knots + h * dk) - loss(x0 - h * dx, knots - h * dk)) / (2 * h)
        worst = max(worst, abs(adj - fd) / abs(fd))
    sim.close()
    return worst


def measure(substeps: int = 7, threads: int | None = None, knot_every: int = 1, repeats: int = 3, fps: float = 30.0,
            seconds: float = 1.0) -> dict:
    """Time one 1 s window: per-step cost, rollout, and gradient (Jacobians + adjoint recursion)."""
    body, qpos, qvel = _setup(fps, seconds)
    frames = int(round(seconds * fps)) + 1
    threads = threads or default_threads()
    sim = Simulator(body, frames, fps, substeps, knot_every, "hold", threads)
    rng = np.random.default_rng(0)
    knots = rng.normal(0, 0.02, (sim.num_knots, body.nu))
    x0 = np.concatenate([np.zeros(body.nv), qvel[0]])
    grad_pos = rng.normal(size=(frames, body.skeleton.num_joints, 3))
    rollout_ms = _best_ms(lambda: sim.run(qpos[0], x0, knots), repeats)
    grad_ms = _best_ms(lambda: sim.gradient(grad_pos), repeats)
    sim.close()
    return {"substeps": substeps, "timestep_ms": 1e3 / (fps * substeps), "steps": sim.num_steps,
            "knot_every": knot_every, "threads": threads,
            "mj_step_us": 1e3 * rollout_ms / sim.num_steps, "rollout_ms": rollout_ms, "grad_ms": grad_ms,
            "grad_over_rollout": grad_ms / rollout_ms}


def run(quick: bool = False) -> list[dict]:
    """Benchmark rows; the first is the default configuration and carries ``gradcheck_rel_err``."""
    repeats = 1 if quick else 3
    n = default_threads()
    rows = [measure(repeats=repeats)]
    rows[0]["gradcheck_rel_err"] = gradcheck_rel_err()
    rows[0]["variant"] = "default"
    variants = [("threads=1", {"threads": 1}), ("substeps=4", {"substeps": 4}), ("knot_every=3", {"knot_every": 3})]
    if quick:
        variants = variants[:1]
    for name, kw in variants:
        if name == "threads=1" and n == 1:
            continue
        rows.append({"variant": name, **measure(repeats=repeats, **kw)})
    return rows
