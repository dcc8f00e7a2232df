"""Differentiable rollouts: a torch autograd Function with an adjoint backward over MuJoCo FD Jacobians.

State ``s_t = (qpos_t, qvel_t)`` in MuJoCo's tangent convention (``2 nv`` numbers; the free joint's
quaternion perturbed through ``mj_integratePos``). Forward: roll out ``N = (F-1) * substeps`` steps
from the initial state with per-step controls ``W @ knots`` (:class:`~phymo.physics.dynamics.ControlGrid`)
and return the skeleton-joint site positions at every frame. The servos are part of the dynamics, so
their feedback is in ``A_t`` and the gradient stays exact. Backward (loss ``L = sum_f l_f(p_f)``):

    lam_N = dl/ds_N,   lam_t = dl/ds_t + A_t^T lam_{t+1},   dL/du_t = B_t^T lam_{t+1},
    dL/dknots = W^T dL/du,   dL/ds_0 = lam_0,

with ``A_t`` from ``mujoco.mjd_transitionFD`` computed for all steps in parallel threads (one MjData per
thread; the bindings release the GIL), ``B_t`` in closed form (:func:`control_jacobian`; finite
differences on request) and ``dl/ds`` from site Jacobians (``mj_jacSite``).
:func:`differentiable_rollout` is the torch face of it.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import mujoco
import numpy as np
import torch
from threadpoolctl import threadpool_limits

from .body import Body
from .dynamics import ControlGrid, rollout

_AFFINE = (mujoco.mjtBias.mjBIAS_NONE, mujoco.mjtBias.mjBIAS_AFFINE)


def actuator_moments(model: mujoco.MjModel) -> np.ndarray:
    """``(nv, nu)`` generalized force per unit control where no force limit binds, ``d qfrc_actuator / d ctrl``.

    Constant for the actuators this module differentiates in closed form, those affine in their control
    (fixed gain; no bias or an affine one, e.g. a position servo; no activation; joint transmission); any
    other actuator raises ``ValueError``.
    """
    affine = ((model.actuator_gaintype == mujoco.mjtGain.mjGAIN_FIXED)
              & np.isin(model.actuator_biastype, _AFFINE)
              & (model.actuator_dyntype == mujoco.mjtDyn.mjDYN_NONE)
              & (model.actuator_trntype == mujoco.mjtTrn.mjTRN_JOINT))
    if not affine.all():
        raise ValueError("closed-form control Jacobians need joint actuators affine in their control")
    data = mujoco.MjData(model)
    mujoco.mj_forward(model, data)
    return (_moment_matrix(model, data) * model.actuator_gainprm[:, :1]).T


def _moment_matrix(model: mujoco.MjModel, data: mujoco.MjData) -> np.ndarray:
    """``(nu, nv)`` actuator moment arms (dense)."""
    moment = np.zeros((model.nu, model.nv))
    mujoco.mju_sparse2dense(moment, data.actuator_moment, data.moment_rownnz, data.moment_rowadr,
                            data.moment_colind)
    return moment


def _unsaturated(model: mujoco.MjModel, data: mujoco.MjData) -> np.ndarray:
    """``(nu,)`` booleans: the actuator's control is inside its range and its force inside its limits, so the
    force moves with the control (and, for a servo, with the velocity)."""
    free = np.ones(model.nu, dtype=bool)
    limited = model.actuator_ctrllimited.astype(bool)
    lo, hi = model.actuator_ctrlrange[:, 0], model.actuator_ctrlrange[:, 1]
    free[limited] = (data.ctrl[limited] >= lo[limited]) & (data.ctrl[limited] <= hi[limited])
    bias = model.actuator_biasprm
    raw = (model.actuator_gainprm[:, 0] * data.ctrl + bias[:, 0] + bias[:, 1] * data.actuator_length
           + bias[:, 2] * data.actuator_velocity)
    flim = model.actuator_forcelimited.astype(bool)
    flo, fhi = model.actuator_forcerange[:, 0], model.actuator_forcerange[:, 1]
    free[flim] &= (raw[flim] >= flo[flim]) & (raw[flim] <= fhi[flim])
    return free


def control_jacobian(model: mujoco.MjModel, data: mujoco.MjData, moments: np.ndarray, qvel_next: np.ndarray,
                     out: np.ndarray) -> None:
    """``B = d(qpos', qvel') / d ctrl`` of one ``implicitfast`` step, in closed form, written into ``out (2nv, nu)``.

    ``data`` holds the step's state and controls after ``mj_forward``; ``qvel_next`` is the step's result.
    Why it is exact: with the soft-constraint rows in the quadratic regime fixed, the Newton solver's
    acceleration solves ``H qacc = qfrc_smooth + J^T D aref`` with ``H = M + J_a^T D_a J_a`` (the
    solver's Hessian), so ``d qacc / d ctrl = H^-1 moments`` (zero where the control or the force is clamped).
    ``implicitfast`` integrates ``qvel' = qvel + h (M - h D)^-1 M qacc``, with ``D`` the velocity derivative of
    the passive and actuator forces (joint damping and the servos' ``-kv``; Coriolis terms left out), then
    ``qpos' = qpos (+) h qvel'`` (quaternions through ``mjd_quatIntegrate``). The control enters affinely, so
    this replaces ``nu`` finite-difference evaluations of the dynamics (a third of ``mjd_transitionFD``'s cost)
    by two ``nv x nv`` solves, and agrees with it to finite-difference accuracy (tested).
    """
    m, nv, h = model, model.nv, model.opt.timestep
    M = np.zeros((nv, nv))
    mujoco.mj_fullM(m, data, M)
    nefc = data.nefc
    if nefc:
        if mujoco.mj_isSparse(m):
            J = np.zeros((nefc, nv))
            mujoco.mju_sparse2dense(J, data.efc_J, data.efc_J_rownnz, data.efc_J_rowadr, data.efc_J_colind)
        else:
            J = data.efc_J[:nefc * nv].reshape(nefc, nv)
        # with constraint islands the solver reports row states in island order
        state = data.iefc_state[data.map_efc2iefc[:nefc]] if data.nisland else data.efc_state[:nefc]
        quad = state == mujoco.mjtConstraintState.mjCNSTRSTATE_QUADRATIC
        H = M + J[quad].T @ (data.efc_D[:nefc][quad, None] * J[quad])
    else:
        H = M
    free = _unsaturated(m, data)
    dqacc = np.linalg.solve(H, moments * free)
    moment = _moment_matrix(m, data)
    D = -np.diag(m.dof_damping) + (moment.T * (m.actuator_biasprm[:, 2] * free)) @ moment
    dqvel = h * np.linalg.solve(M - h * D, M @ dqacc)
    out[nv:2 * nv] = dqvel
    out[:nv] = h * dqvel
    dquat, dvel, dscale = np.zeros(9), np.zeros(9), np.zeros(3)
    for j in np.flatnonzero((m.jnt_type == mujoco.mjtJoint.mjJNT_FREE) | (m.jnt_type == mujoco.mjtJoint.mjJNT_BALL)):
        a = m.jnt_dofadr[j] + (3 if m.jnt_type[j] == mujoco.mjtJoint.mjJNT_FREE else 0)
        mujoco.mjd_quatIntegrate(qvel_next[a:a + 3], h, dquat, dvel, dscale)
        out[a:a + 3] = h * dvel.reshape(3, 3) @ dqvel[a:a + 3]


def default_threads() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)


@dataclass(frozen=True)
class Trajectory:
    """A rollout's states ``qpos (N+1, nq)``, ``qvel (N+1, nv)`` and its per-step controls and actuator forces
    ``(N, nu)``: what the adjoint linearizes around."""

    qpos: np.ndarray
    qvel: np.ndarray
    ctrl: np.ndarray
    force: np.ndarray


class Simulator:
    """A window's simulation problem: the body, its control grid and worker threads.

    Args:
        body: the compiled humanoid (``implicitfast``: the servos' damping is integrated implicitly).
        num_frames: frames in the window (``F``).
        substeps: simulation steps per frame.
        threads: Jacobian worker threads (default: CPUs available).
        eps: forward-difference step of ``mjd_transitionFD``. Centred differences cost twice as much and,
            over a 1 s rollout with contact, disagree with these by 49 % (docs/results.md): contact
            switches inside a stencil; both agree with central differences of the loss on short windows.

    The control Jacobians ``B`` are computed in closed form (:func:`control_jacobian`): 17 % less gradient
    time than ``mjd_transitionFD``'s (measured with torque motors, docs/results.md). Linearizing once per
    frame instead of once per step gave a gradient 99 % off with contact, so every step is linearized.
    """

    def __init__(self, body: Body, num_frames: int, substeps: int, threads: int | None = None, eps: float = 1e-6):
        if body.model.opt.integrator != mujoco.mjtIntegrator.mjINT_IMPLICITFAST:
            raise ValueError("the closed-form control Jacobians assume the implicitfast integrator")
        self.body, self.model = body, body.model
        self.num_frames, self.substeps = num_frames, substeps
        self.grid = ControlGrid(num_frames, substeps)
        self.threads = threads or default_threads()
        self.eps = eps
        self._moments = actuator_moments(self.model)
        self._datas = [mujoco.MjData(self.model) for _ in range(self.threads)]
        self._pool = ThreadPoolExecutor(self.threads) if self.threads > 1 else None

    @property
    def num_steps(self) -> int:
        return self.grid.num_steps

    def initial_qpos(self, qpos_ref: np.ndarray, dq: np.ndarray) -> np.ndarray:
        q = np.array(qpos_ref, dtype=np.float64)
        mujoco.mj_integratePos(self.model, q, np.asarray(dq, dtype=np.float64), 1.0)
        return q

    def run(self, qpos_ref: np.ndarray, x0: np.ndarray, knots: np.ndarray) -> tuple[np.ndarray, Trajectory]:
        """Roll out ``knots (F, nu)`` from ``x0 = (dq (nv), qvel (nv))`` around ``qpos_ref``.

        Returns the ``(F, J, 3)`` site positions at the frames and the :class:`Trajectory` (for
        :meth:`gradient`). Raises ``SimulationDiverged``.
        """
        nv = self.model.nv
        ctrl = self.grid.expand(knots)
        qpos, qvel, force = rollout(self.model, self._datas[0], self.initial_qpos(qpos_ref, x0[:nv]), x0[nv:], ctrl)
        return self.frame_positions(qpos), Trajectory(qpos, qvel, ctrl, force)

    def frame_positions(self, qpos: np.ndarray) -> np.ndarray:
        d = self._datas[0]
        out = np.empty((self.num_frames, self.body.skeleton.num_joints, 3))
        for f in range(self.num_frames):
            d.qpos[:] = qpos[f * self.substeps]
            mujoco.mj_kinematics(self.model, d)
            out[f] = d.site_xpos[self.body.site_ids]
        return out

    def _parallel(self, fn, n: int) -> None:
        chunks = [(i, range(i * n // self.threads, (i + 1) * n // self.threads)) for i in range(self.threads)]
        if self._pool is None:
            for c in chunks:
                fn(*c)
        else:
            list(self._pool.map(lambda c: fn(*c), chunks))

    def transition_jacobians(self, traj: Trajectory) -> tuple[np.ndarray, np.ndarray]:
        """``A (N, 2nv, 2nv)``, ``B (N, 2nv, nu)`` at every step of a trajectory, computed in parallel threads."""
        m, n = self.model, traj.ctrl.shape[0]
        A = np.zeros((n, 2 * m.nv + m.na, 2 * m.nv + m.na))
        B = np.zeros((n, 2 * m.nv + m.na, m.nu))

        def work(i, steps):
            d = self._datas[i]
            for t in steps:
                d.qpos[:], d.qvel[:], d.ctrl[:] = traj.qpos[t], traj.qvel[t], traj.ctrl[t]
                mujoco.mj_forward(m, d)
                control_jacobian(m, d, self._moments, traj.qvel[t + 1], B[t])
                mujoco.mjd_transitionFD(m, d, self.eps, False, A[t], None, None, None)

        with threadpool_limits(limits=1, user_api="blas"):  # the closed-form B's small solves, one per thread
            self._parallel(work, n)
        return A, B

    def site_jacobians(self, qpos: np.ndarray) -> np.ndarray:
        """``(F, J, 3, nv)`` site position Jacobians w.r.t. the tangent of ``qpos`` at every frame."""
        m, sites = self.model, self.body.site_ids
        out = np.zeros((self.num_frames, len(sites), 3, m.nv))
        d = self._datas[0]
        for f in range(self.num_frames):
            d.qpos[:] = qpos[f * self.substeps]
            mujoco.mj_kinematics(m, d)
            mujoco.mj_comPos(m, d)
            for k, s in enumerate(sites):
                mujoco.mj_jacSite(m, d, out[f, k], None, int(s))
        return out

    def gradient(self, grad_pos: np.ndarray, traj: Trajectory) -> tuple[np.ndarray, np.ndarray]:
        """Adjoint pass: ``dL/dpos (F, J, 3)`` -> ``(dL/dx0 (2nv), dL/dknots (F, nu))`` along ``traj``."""
        nv, S = self.model.nv, self.substeps
        A, B = self.transition_jacobians(traj)
        Js = self.site_jacobians(traj.qpos)
        g_frame = np.einsum("fjcv,fjc->fv", Js, grad_pos)  # (F, nv) dl/dq per frame
        lam = np.zeros(2 * nv + self.model.na)
        lam[:nv] = g_frame[-1]
        grad_u = np.zeros_like(traj.ctrl)
        for t in range(traj.ctrl.shape[0] - 1, -1, -1):
            grad_u[t] = B[t].T @ lam
            lam = A[t].T @ lam
            if t % S == 0:
                lam[:nv] += g_frame[t // S]
        return lam, self.grid.reduce(grad_u)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None


class _RolloutFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x0, knots, sim, qpos_ref):
        pos, ctx.trajectory = sim.run(qpos_ref, x0.detach().cpu().numpy(), knots.detach().cpu().numpy())
        ctx.sim = sim
        return torch.as_tensor(pos, dtype=torch.float64)

    @staticmethod
    def backward(ctx, grad_pos):
        gx, gk = ctx.sim.gradient(grad_pos.detach().cpu().numpy().astype(np.float64), ctx.trajectory)
        return torch.as_tensor(gx), torch.as_tensor(gk), None, None


def differentiable_rollout(sim: Simulator, qpos_ref: np.ndarray, x0: torch.Tensor, knots: torch.Tensor) -> torch.Tensor:
    """Differentiable rollout: ``(F, J, 3)`` simulated joint positions (metres, world).

    Args:
        qpos_ref: ``(nq,)`` reference initial configuration.
        x0: ``(2 nv,)`` initial state as tangent offset from ``qpos_ref`` and velocity.
        knots: ``(F, nu)`` per-frame control knots (servo targets in rad, residual controls in [-1, 1]).
    """
    return _RolloutFunction.apply(x0, knots, sim, qpos_ref)
