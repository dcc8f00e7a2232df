"""Rollouts of the humanoid: the control grid, one rollout stepped here, many batched in C.

Controls are knots, one per video frame (``(F, nu)``: servo targets in rad, residual controls), linearly
interpolated to the simulation steps by :class:`ControlGrid`. The planner's coarser knots and the
refinement's variables are both expressed on that grid, so what the planner executed is exactly what
the refinement starts from.
"""

from __future__ import annotations

import contextlib

import mujoco
import numpy as np
from mujoco import rollout as mj_rollout

from phymo.data import PhymoError

#: |qvel| above this (m/s or rad/s) counts as a physics blow-up.
MAX_QVEL = 1e3

FULL_STATE = mujoco.mjtState.mjSTATE_FULLPHYSICS


class SimulationDiverged(PhymoError):
    """The simulation produced NaN/huge velocities or MuJoCo warned about bad accelerations."""


class ControlGrid:
    """Per-frame control knots ``(F, nu)`` -> per-step controls ``(N, nu)``, ``N = (F - 1) * substeps``.

    Step ``t`` (from ``t / substeps`` to ``(t + 1) / substeps`` frames) uses the knots linearly interpolated at
    its end, ``(t + 1) / substeps``: a servo target leads the state it pulls towards. The map is linear,
    ``ctrl = W @ knots``, and :meth:`reduce` is its transpose (for gradients).
    """

    def __init__(self, num_frames: int, substeps: int):
        if num_frames < 2 or substeps < 1:
            raise ValueError(f"need num_frames >= 2 and substeps >= 1, got {num_frames} and {substeps}")
        self.num_frames, self.substeps = num_frames, substeps
        n = (num_frames - 1) * substeps
        t = (np.arange(n) + 1) / substeps
        i = np.minimum(np.floor(t).astype(int), num_frames - 2)
        a = t - i
        self.W = np.zeros((n, num_frames))
        self.W[np.arange(n), i], self.W[np.arange(n), i + 1] = 1.0 - a, a

    @property
    def num_steps(self) -> int:
        return self.W.shape[0]

    def expand(self, knots: np.ndarray) -> np.ndarray:
        """``(..., F, nu)`` knots -> ``(..., N, nu)`` per-step controls."""
        return np.einsum("nf,...fu->...nu", self.W, knots)

    def reduce(self, per_step: np.ndarray) -> np.ndarray:
        """``(N, nu)`` per-step gradients -> ``(F, nu)`` per-knot gradients."""
        return self.W.T @ per_step


def check_state(model: mujoco.MjModel, data: mujoco.MjData, step: int) -> None:
    """Raise :class:`SimulationDiverged` on non-finite or huge velocities or a bad-qacc warning."""
    if (not np.all(np.isfinite(data.qvel)) or np.abs(data.qvel).max(initial=0.0) > MAX_QVEL
            or data.warning[mujoco.mjtWarning.mjWARN_BADQACC].number > 0):
        raise SimulationDiverged(f"simulation diverged at step {step} (largest joint speed "
                                 f"{np.nanmax(np.abs(data.qvel)):.3g} rad/s or m/s)")


def rollout(model: mujoco.MjModel, data: mujoco.MjData, qpos0: np.ndarray, qvel0: np.ndarray,
            ctrl: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Run ``len(ctrl)`` steps from ``(qpos0, qvel0)`` with per-step controls ``ctrl (N, nu)``.

    Returns ``qpos (N+1, nq)``, ``qvel (N+1, nv)`` including the initial state, and the actuator forces
    ``(N, nu)`` of every step (N m for the servos). Raises :class:`SimulationDiverged`.
    """
    n = ctrl.shape[0]
    mujoco.mj_resetData(model, data)
    data.qpos[:], data.qvel[:] = qpos0, qvel0
    qpos = np.empty((n + 1, model.nq))
    qvel = np.empty((n + 1, model.nv))
    force = np.empty((n, model.nu))
    qpos[0], qvel[0] = data.qpos, data.qvel
    for t in range(n):
        data.ctrl[:] = ctrl[t]
        mujoco.mj_step(model, data)
        check_state(model, data, t)
        qpos[t + 1], qvel[t + 1], force[t] = data.qpos, data.qvel, data.actuator_force
    return qpos, qvel, force


def full_state(model: mujoco.MjModel, qpos: np.ndarray, qvel: np.ndarray) -> np.ndarray:
    """The ``mjSTATE_FULLPHYSICS`` vector (time 0, ``qpos``, ``qvel``) that batched rollouts start from."""
    data = mujoco.MjData(model)
    data.qpos[:], data.qvel[:] = qpos, qvel
    out = np.empty(mujoco.mj_stateSize(model, FULL_STATE))
    mujoco.mj_getState(model, data, out, FULL_STATE)
    return out


class BatchRollout(contextlib.AbstractContextManager):
    """Many open-loop rollouts from one state, stepped in C on ``threads`` threads (``mujoco.rollout``).

    No Python runs between steps. Every rollout is computed by one thread alone, so the result does not
    depend on the thread count. Use as a context manager (the threads stop on exit).
    """

    def __init__(self, model: mujoco.MjModel, threads: int):
        self.model, self.threads = model, threads
        self._datas = [mujoco.MjData(model) for _ in range(threads)]
        self._pool = mj_rollout.Rollout(nthread=threads)
        sl = slice(1, 1 + model.nq)  # the state vector starts with the time
        self._qpos, self._qvel = sl, slice(sl.stop, sl.stop + model.nv)

    def run(self, state: np.ndarray, ctrl: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Roll out ``ctrl (B, N, nu)`` from ``state`` (:func:`full_state`).

        Returns ``qpos (B, N, nq)`` and ``sensordata (B, N, nsensordata)`` after every step, and ``(B,)``
        booleans: the rollout diverged (MuJoCo stops stepping on a warning and resets; non-finite or huge
        velocities; the clock not advancing). MuJoCo evaluates the sensors at the start of a step, so one more
        step (holding the last control) gives those after the last one.
        """
        b, n = ctrl.shape[:2]
        ctrl = np.concatenate([ctrl, ctrl[:, -1:]], axis=1)
        states, sensors = self._pool.rollout(self.model, self._datas, np.asarray(state)[None], ctrl, nstep=n + 1)
        states, sensors = states[:, :n], sensors[:, 1:]
        qvel = states[..., self._qvel]
        clock = states[..., 0]
        with np.errstate(invalid="ignore"):
            diverged = (~np.isfinite(states).all(axis=(1, 2)) | (np.abs(qvel).max(axis=(1, 2)) > MAX_QVEL)
                        | (np.diff(clock, axis=1) <= 0).any(axis=1))
        return states[..., self._qpos], sensors, diverged

    def close(self) -> None:
        self._pool.close()

    def __exit__(self, *exc) -> None:
        self.close()
