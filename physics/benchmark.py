"""Cost of the simulation: ``run(quick) -> list[dict]`` (wired to ``phymo bench physics``).

The first row is the gradient's default configuration (a 15-frame window at 30 fps, 4 sub-steps of 8.3 ms,
forward differences for the state Jacobian, closed-form control Jacobian, all CPUs); ``variant`` rows each
change one setting so its effect on ``grad_ms`` can be read against the first row. ``batch`` rows time the
planner's batched rollouts (``mujoco.rollout``, 64 rollouts of a 0.5 s horizon) per thread count, with the
cost of one step, against a Python loop of ``mj_step``. Variants measured worse and removed from the code
(centred differences, reused or per-frame Jacobians) are in docs/results.md.
"""

from __future__ import annotations

import time

import mujoco
import numpy as np
import torch

from phymo.data import walking_motion

from .adjoint import Simulator, default_threads, differentiable_rollout
from .body import HINGE_QPOS, build_body, motion_to_qpos, qpos_to_qvel
from .dynamics import BatchRollout, full_state


def _best_ms(fn, repeats: int) -> float:
    best = np.inf
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return 1e3 * best


def _setup(fps: float = 30.0, substeps: int = 4, seconds: float = 1.0):
    body = build_body(timestep=1.0 / (fps * substeps))
    motion = walking_motion(seconds + 0.5, fps, skeleton=body.skeleton)
    qpos = motion_to_qpos(body, motion)
    return body, qpos, qpos_to_qvel(body, qpos, 1.0 / fps)


def _knots(body, qpos: np.ndarray, frames: int, rng: np.random.Generator) -> np.ndarray:
    """Servo targets near the motion's angles, residual controls zero: ``(frames, nu)``."""
    knots = np.zeros((frames, body.nu))
    knots[:, :body.num_hinges] = qpos[:frames, HINGE_QPOS] + rng.normal(0, 0.05, (frames, body.num_hinges))
    return knots


def gradcheck_rel_err(seed: int = 0) -> float:
    """Worst relative error of adjoint directional derivatives vs central differences (3 directions)."""
    rng = np.random.default_rng(seed)
    body, qpos, qvel = _setup()
    sim = Simulator(body, 5, substeps=4, threads=2)
    knots = torch.tensor(_knots(body, qpos, 5, rng), requires_grad=True)
    x0 = torch.tensor(np.concatenate([np.zeros(body.nv), qvel[0]]), requires_grad=True)
    w = torch.tensor(rng.normal(size=(5, body.skeleton.num_joints, 3)))

    def loss(x, k):
        pos = differentiable_rollout(sim, qpos[0], x, k)
        return (w * pos).sum() + 10 * ((pos[..., 2] - 0.05) ** 2).sum()

    loss(x0, knots).backward()
    worst, h = 0.0, 1e-6
    for _ in range(3):
        dk, dx = torch.tensor(rng.normal(size=knots.shape)) * 0.1, 0.1 * torch.tensor(rng.normal(size=x0.shape))
        adj = float((knots.grad * dk).sum() + (x0.grad * dx).sum())
        with torch.no_grad():
            fd = float(loss(x0 + h * dx, knots + h * dk) - loss(x0 - h * dx, knots - h * dk)) / (2 * h)
        worst = max(worst, abs(adj - fd) / abs(fd))
    sim.close()
    return worst


def measure(substeps: int = 4, threads: int | None = None, repeats: int = 3, fps: float = 30.0,
            frames: int = 15) -> dict:
    """Time one window: per-step cost, rollout, and gradient (Jacobians + adjoint recursion)."""
    body, qpos, qvel = _setup(fps, substeps)
    threads = threads or default_threads()
    sim = Simulator(body, frames, substeps, threads)
    rng = np.random.default_rng(0)
    knots = _knots(body, qpos, frames, rng)
    x0 = np.concatenate([np.zeros(body.nv), qvel[0]])
    grad_pos = rng.normal(size=(frames, body.skeleton.num_joints, 3))
    _, traj = sim.run(qpos[0], x0, knots)
    rollout_ms = _best_ms(lambda: sim.run(qpos[0], x0, knots), repeats)
    grad_ms = _best_ms(lambda: sim.gradient(grad_pos, traj), repeats)
    sim.close()
    return {"substeps": substeps, "timestep_ms": 1e3 / (fps * substeps), "steps": sim.num_steps, "threads": threads,
            "mj_step_us": 1e3 * rollout_ms / sim.num_steps, "rollout_ms": rollout_ms, "grad_ms": grad_ms,
            "grad_over_rollout": grad_ms / rollout_ms}


def measure_batch(threads: int, samples: int = 64, frames: int = 15, substeps: int = 4, repeats: int = 3) -> dict:
    """Time ``samples`` batched rollouts of ``frames`` frames (the planner's iteration) on ``threads`` threads."""
    body, qpos, qvel = _setup(substeps=substeps)
    rng = np.random.default_rng(0)
    steps = frames * substeps
    ctrl = np.repeat(_knots(body, qpos, 1, rng)[None], samples, axis=0).repeat(steps, axis=1)
    ctrl[..., :body.num_hinges] += rng.normal(0, 0.1, (samples, 1, body.num_hinges))
    state = full_state(body.model, qpos[0], qvel[0])
    with BatchRollout(body.model, threads) as batch:
        ms = _best_ms(lambda: batch.run(state, ctrl), repeats)
    return {"variant": f"batch, {threads} thread{'s' * (threads > 1)}", "threads": threads, "steps": samples * steps,
            "mj_step_us": 1e3 * ms / (samples * steps), "rollout_ms": ms}


def measure_loop(samples: int = 64, frames: int = 15, substeps: int = 4, repeats: int = 1) -> dict:
    """The same rollouts as :func:`measure_batch`, one ``mj_step`` at a time from Python."""
    body, qpos, qvel = _setup(substeps=substeps)
    rng = np.random.default_rng(0)
    knots = _knots(body, qpos, 1, rng)[0]
    data = mujoco.MjData(body.model)

    def loop():
        for _ in range(samples):
            data.qpos[:], data.qvel[:], data.ctrl[:] = qpos[0], qvel[0], knots
            for _ in range(frames * substeps):
                mujoco.mj_step(body.model, data)

    ms = _best_ms(loop, repeats)
    return {"variant": "python loop", "threads": 1, "steps": samples * frames * substeps,
            "mj_step_us": 1e3 * ms / (samples * frames * substeps), "rollout_ms": ms}


def run(quick: bool = False) -> list[dict]:
    """Benchmark rows; the first is the default configuration and carries ``gradcheck_rel_err``."""
    repeats = 1 if quick else 3
    n = default_threads()
    rows = [{"variant": "default", **measure(repeats=repeats), "gradcheck_rel_err": gradcheck_rel_err()}]
    variants = [("threads=1", {"threads": 1}), ("substeps=2", {"substeps": 2})]
    for name, kw in variants[:1] if quick else variants:
        if name == "threads=1" and n == 1:
            continue
        rows.append({"variant": name, **measure(repeats=repeats, **kw)})
    rows += [measure_batch(t, repeats=repeats) for t in sorted({1, n})]
    if not quick:
        rows.append(measure_loop())
    return rows
