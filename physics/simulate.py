"""Forward simulation: control knots interpolated to sub-steps, rollouts with divergence detection."""

from __future__ import annotations

import mujoco
import numpy as np

from phymo.data import PhymoError

#: |qvel| above this (m/s or rad/s) counts as a physics blow-up.
MAX_QVEL = 1e3


class SimulationDiverged(PhymoError):
    """The simulation produced NaN/huge velocities or MuJoCo warned about bad accelerations."""


def num_knots(num_frames: int, knot_every: int) -> int:
    """Knots at frames 0, k, 2k, ... plus the last frame if not on the grid."""
    return (num_frames - 2) // knot_every + 2 if num_frames > 1 else 1


def knot_frames(num_frames: int, knot_every: int) -> np.ndarray:
    """``(K,)`` frame index of each knot."""
    return np.minimum(np.arange(num_knots(num_frames, knot_every)) * knot_every, num_frames - 1)


def knot_matrix(num_frames: int, substeps: int, knot_every: int = 1, interp: str = "hold") -> np.ndarray:
    """``(N, K)`` interpolation weights: ``ctrl[t] = W[t] @ knots`` for the ``N = (F-1)*substeps`` steps.

    Step ``t`` uses the control at time ``t / substeps`` frames (the start of the step), linearly
    interpolated between knots (``interp="linear"``) or held from the last knot (``"hold"``).
    """
    if interp not in ("linear", "hold"):
        raise ValueError(f"interp must be 'linear' or 'hold', got {interp!r}")
    if num_frames < 2 or substeps < 1 or knot_every < 1:
        raise ValueError("need num_frames >= 2, substeps >= 1, knot_every >= 1; "
                         f"got {num_frames}, {substeps}, {knot_every}")
    times = knot_frames(num_frames, knot_every).astype(np.float64)
    k = len(times)
    n = (num_frames - 1) * substeps
    w = np.zeros((n, k))
    for t in range(n):
        f = t / substeps
        i = min(np.searchsorted(times, f, side="right") - 1, k - 2)
        a = (f - times[i]) / (times[i + 1] - times[i]) if interp == "linear" else 0.0
        w[t, i], w[t, i + 1] = 1.0 - a, a
    return w


def check_state(model: mujoco.MjModel, data: mujoco.MjData, step: int) -> None:
    """Raise :class:`SimulationDiverged` on non-finite or huge velocities or a bad-qacc warning."""
    if (not np.all(np.isfinite(data.qvel)) or np.abs(data.qvel).max(initial=0.0) > MAX_QVEL
            or data.warning[mujoco.mjtWarning.mjWARN_BADQACC].number > 0):
        raise SimulationDiverged(f"simulation diverged at step {step} (largest joint speed "
                                 f"{np.nanmax(np.abs(data.qvel)):.3g} rad/s or m/s)")


def rollout(model: mujoco.MjModel, data: mujoco.MjData, qpos0: np.ndarray, qvel0: np.ndarray,
            ctrl: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Run ``len(ctrl)`` steps from ``(qpos0, qvel0)``.

    Args:
        ctrl: ``(N, nu)`` per-step controls.

    Returns:
        ``qpos (N+1, nq)``, ``qvel (N+1, nv)`` including the initial state.
    """
    n = ctrl.shape[0]
    mujoco.mj_resetData(model, data)
    data.qpos[:], data.qvel[:] = qpos0, qvel0
    qpos = np.empty((n + 1, model.nq))
    qvel = np.empty((n + 1, model.nv))
    qpos[0], qvel[0] = data.qpos, data.qvel
    for t in range(n):
        data.ctrl[:] = ctrl[t]
        mujoco.mj_step(model, data)
        check_state(model, data, t)
        qpos[t + 1], qvel[t + 1] = data.qpos, data.qvel
    return qpos, qvel
