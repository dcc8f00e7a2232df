"""Differentiable rollouts: a torch autograd Function with an adjoint backward over MuJoCo FD Jacobians.

State ``s_t = (qpos_t, qvel_t)`` in MuJoCo's tangent convention (``2 nv`` numbers; the free joint's
quaternion perturbed through ``mj_integratePos``). Forward: roll out ``N = (F-1) * substeps`` steps
from the initial state with per-step controls ``W @ knots`` and return the skeleton-joint site
positions at every frame. Backward (loss ``L = sum_f l_f(p_f)``):

    lam_N = dl/ds_N,   lam_t = dl/ds_t + A_t^T lam_{t+1},   dL/du_t = B_t^T lam_{t+1},
    dL/dknots = W^T dL/du,   dL/ds_0 = lam_0,

with ``A_t`` from ``mujoco.mjd_transitionFD`` computed for all steps in parallel threads (one MjData per
thread; the bindings release the GIL), ``B_t`` in closed form (:func:`control_jacobian`; finite
differences on request) and ``dl/ds`` from site Jacobians (``mj_jacSite``).
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import mujoco
import numpy as np
import torch
from threadpoolctl import threadpool_limits

from .body import Body
from .simulate import knot_matrix, rollout


def actuator_moments(model: mujoco.MjModel) -> np.ndarray:
    """``(nv, nu)`` generalized force per unit control, ``d qfrc_actuator / d ctrl``.

    Constant for the motors this module differentiates in closed form (fixed gain, no bias, no
    activation, joint transmission); any other actuator raises ``ValueError``.
    """
    motor = ((model.actuator_gaintype == mujoco.mjtGain.mjGAIN_FIXED)
             & (model.actuator_biastype == mujoco.mjtBias.mjBIAS_NONE)
             & (model.actuator_dyntype == mujoco.mjtDyn.mjDYN_NONE)
             & (model.actuator_trntype == mujoco.mjtTrn.mjTRN_JOINT) & (model.actuator_forcelimited == 0))
    if not motor.all():
        raise ValueError("closed-form control Jacobians need plain joint motors; use control_jacobian='fd'")
    data = mujoco.MjData(model)
    mujoco.mj_forward(model, data)
    moment = np.zeros((model.nu, model.nv))
    mujoco.mju_sparse2dense(moment, data.actuator_moment, data.moment_rownnz, data.moment_rowadr,
                            data.moment_colind)
    return (moment * model.actuator_gainprm[:, :1]).T


def control_jacobian(model: mujoco.MjModel, data: mujoco.MjData, moments: np.ndarray, qvel_next: np.ndarray,
                     out: np.ndarray) -> None:
    """``B = d(qpos', qvel') / d ctrl`` of one Euler step, in closed form, written into ``out (2nv, nu)``.

    ``data`` holds the step's state and controls after ``mj_forward``; ``qvel_next`` is the step's result.
    Why it is exact: with the soft-constraint rows in the quadratic regime fixed, the Newton solver's
    acceleration solves ``H qacc = qfrc_smooth + J^T D aref`` with ``H = M + J_a^T D_a J_a`` (the
    solver's Hessian), so ``d qacc / d ctrl = H^-1 moments`` (zero for a clamped control). Euler with
    joint damping integrates ``qvel' = qvel + h (M + h diag(damping))^-1 M qacc``, then
    ``qpos' = qpos (+) h qvel'`` (quaternions through ``mjd_quatIntegrate``). This replaces ``nu``
    finite-difference evaluations of the dynamics (a third of ``mjd_transitionFD``'s cost) by two
    ``nv x nv`` solves, and agrees with it to finite-difference accuracy (tested).
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
    free = np.ones(m.nu, dtype=bool)
    limited = m.actuator_ctrllimited.astype(bool)
    lo, hi = m.actuator_ctrlrange[:, 0], m.actuator_ctrlrange[:, 1]
    free[limited] = (data.ctrl[limited] >= lo[limited]) & (data.ctrl[limited] <= hi[limited])
    dqacc = np.linalg.solve(H, moments * free)
    implicit_damping = not m.opt.disableflags & mujoco.mjtDisableBit.mjDSBL_EULERDAMP
    dqvel = h * np.linalg.solve(M + h * np.diag(m.dof_damping) if implicit_damping else M, M @ dqacc)
    out[nv:2 * nv] = dqvel
    out[:nv] = h * dqvel
    dquat, dvel, dscale = np.zeros(9), np.zeros(9), np.zeros(3)
    for j in np.flatnonzero((m.jnt_type == mujoco.mjtJoint.mjJNT_FREE) | (m.jnt_type == mujoco.mjtJoint.mjJNT_BALL)):
        a = m.jnt_dofadr[j] + (3 if m.jnt_type[j] == mujoco.mjtJoint.mjJNT_FREE else 0)
        mujoco.mjd_quatIntegrate(qvel_next[a:a + 3], h, dquat, dvel, dscale)
        out[a:a + 3] = h * dvel.reshape(3, 3) @ dqvel[a:a + 3]


def default_threads() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)


class Simulator:
    """A window's simulation problem: the body, its time grid and worker threads.

    Args:
        body: the compiled humanoid (its model's timestep is set here from ``fps`` and ``substeps``).
        num_frames: frames in the window (``F``).
        fps: video frame rate.
        substeps: simulation steps per frame.
        knot_every: frames per control knot.
        interp: knot interpolation, "linear" or "hold" (see :func:`~phymo.physics.simulate.knot_matrix`).
        threads: Jacobian worker threads (default: CPUs available).
        eps: finite-difference step for ``mjd_transitionFD``.
        centered: centred (True) or forward (False) differences for the transition Jacobians.
        reuse_tol: reuse the previous backward's Jacobians when no state moved more than this
            (max abs over the trajectory, tangent units); 0 disables reuse.
        control_jacobian: "analytic" (:func:`control_jacobian`, plain motors only) or "fd"
            (``mjd_transitionFD``, any actuator).
        jacobian_every: linearize once per block of this many consecutive steps (at the block's middle
            step) and use that ``(A, B)`` for the whole block. 1 is the exact adjoint; ``substeps`` makes
            the Jacobian cost one linearization per frame, an approximate gradient (its error is measured
            in docs/results.md: 99 % off on a 1 s rollout with contact, so the reconstruction keeps 1).
    """

    def __init__(self, body: Body, num_frames: int, fps: float, substeps: int = 7, knot_every: int = 1,
                 interp: str = "linear", threads: int | None = None, eps: float = 1e-6, centered: bool = False,
                 reuse_tol: float = 0.0, control_jacobian: str = "analytic", jacobian_every: int = 1):
        if jacobian_every < 1:
            raise ValueError(f"jacobian_every must be >= 1, got {jacobian_every}")
        if control_jacobian not in ("analytic", "fd"):
            raise ValueError(f"control_jacobian must be 'analytic' or 'fd', got {control_jacobian!r}")
        if control_jacobian == "analytic" and body.model.opt.integrator != mujoco.mjtIntegrator.mjINT_EULER:
            raise ValueError("closed-form control Jacobians assume the Euler integrator; use control_jacobian='fd'")
        self.body = body
        self.model = body.model
        self.model.opt.timestep = 1.0 / (fps * substeps)
        self.num_frames, self.fps, self.substeps = num_frames, fps, substeps
        self.W = knot_matrix(num_frames, substeps, knot_every, interp)
        self.interp = interp
        self.knot_every = knot_every
        self.threads = threads or default_threads()
        self.eps, self.centered, self.reuse_tol = eps, centered, reuse_tol
        self.jacobian_every = jacobian_every
        self._moments = actuator_moments(self.model) if control_jacobian == "analytic" else None
        self._datas = [mujoco.MjData(self.model) for _ in range(self.threads)]
        self._pool = ThreadPoolExecutor(self.threads) if self.threads > 1 else None
        self._cache: tuple | None = None  # qpos, qvel and their linearizations (A, B, block)
        self.last: dict = {}

    @property
    def num_steps(self) -> int:
        return self.W.shape[0]

    @property
    def num_knots(self) -> int:
        return self.W.shape[1]

    def initial_qpos(self, qpos_ref: np.ndarray, dq: np.ndarray) -> np.ndarray:
        q = np.array(qpos_ref, dtype=np.float64)
        mujoco.mj_integratePos(self.model, q, np.asarray(dq, dtype=np.float64), 1.0)
        return q

    def run(self, qpos_ref: np.ndarray, x0: np.ndarray, knots: np.ndarray) -> np.ndarray:
        """Roll out from ``x0 = (dq (nv), qvel (nv))`` around ``qpos_ref``; returns ``(F, J, 3)`` site positions.

        Stores the trajectory for :meth:`gradient`. Raises ``SimulationDiverged``.
        """
        nv = self.model.nv
        ctrl = self.W @ knots
        qpos, qvel = rollout(self.model, self._datas[0], self.initial_qpos(qpos_ref, x0[:nv]), x0[nv:], ctrl)
        self.last = {"qpos": qpos, "qvel": qvel, "ctrl": ctrl}
        return self.frame_positions(qpos)

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

    def linearization_steps(self, n: int) -> np.ndarray:
        """The step each of ``n`` steps takes its ``(A, B)`` from (its block's middle step)."""
        e = self.jacobian_every
        return np.minimum(np.arange(n) // e * e + e // 2, n - 1)

    def transition_jacobians(self, qpos, qvel, ctrl) -> tuple[np.ndarray, np.ndarray]:
        """``A (N, 2nv, 2nv)``, ``B (N, 2nv, nu)`` at every step of a trajectory."""
        A, B, block = self.linearizations(qpos, qvel, ctrl)
        return A[block], B[block]

    def linearizations(self, qpos, qvel, ctrl) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(A, B, block)``: one ``(A, B)`` per block, computed in parallel threads; step ``t`` uses
        ``A[block[t]], B[block[t]]``."""
        m, n = self.model, ctrl.shape[0]
        src = self.linearization_steps(n)
        at = np.unique(src)
        A = np.zeros((len(at), 2 * m.nv + m.na, 2 * m.nv + m.na))
        B = np.zeros((len(at), 2 * m.nv + m.na, m.nu))

        def work(i, blocks):
            d = self._datas[i]
            for b in blocks:
                t = at[b]
                d.qpos[:], d.qvel[:], d.ctrl[:] = qpos[t], qvel[t], ctrl[t]
                if self._moments is None:
                    mujoco.mjd_transitionFD(m, d, self.eps, self.centered, A[b], B[b], None, None)
                    continue
                mujoco.mj_forward(m, d)
                control_jacobian(m, d, self._moments, qvel[t + 1], B[b])
                mujoco.mjd_transitionFD(m, d, self.eps, self.centered, A[b], None, None, None)

        with threadpool_limits(limits=1, user_api="blas"):  # the closed-form B's small solves, one per thread
            self._parallel(work, len(at))
        return A, B, np.searchsorted(at, src)

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

    def gradient(self, grad_pos: np.ndarray, trajectory: dict | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Adjoint pass: ``dL/dpos (F, J, 3)`` -> ``(dL/dx0 (2nv), dL/dknots (K, nu))``.

        ``trajectory`` is a :meth:`run`'s stored ``{"qpos", "qvel", "ctrl"}`` (default: the last run's).
        """
        traj = self.last if trajectory is None else trajectory
        qpos, qvel, ctrl = traj["qpos"], traj["qvel"], traj["ctrl"]
        nv, S = self.model.nv, self.substeps
        c = self._cache
        if (c is not None and self.reuse_tol > 0 and c[0].shape == qpos.shape
                and max(np.abs(c[0] - qpos).max(), np.abs(c[1] - qvel).max()) <= self.reuse_tol):
            A, B, block = c[2]
            traj["reused"] = True
        else:
            A, B, block = self.linearizations(qpos, qvel, ctrl)
            self._cache = (qpos, qvel, (A, B, block))
            traj["reused"] = False
        Js = self.site_jacobians(qpos)
        g_frame = np.einsum("fjcv,fjc->fv", Js, grad_pos)  # (F, nv) dl/dq per frame
        n = ctrl.shape[0]
        lam = np.zeros(2 * nv + self.model.na)
        lam[:nv] = g_frame[-1]
        grad_u = np.zeros_like(ctrl)
        for t in range(n - 1, -1, -1):
            grad_u[t] = B[block[t]].T @ lam
            lam = A[block[t]].T @ lam
            if t % S == 0:
                lam[:nv] += g_frame[t // S]
        return lam, self.W.T @ grad_u

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None


class _RolloutFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x0, knots, sim, qpos_ref):
        pos = sim.run(qpos_ref, x0.detach().cpu().numpy(), knots.detach().cpu().numpy())
        ctx.sim, ctx.trajectory = sim, dict(sim.last)
        return torch.as_tensor(pos, dtype=torch.float64)

    @staticmethod
    def backward(ctx, grad_pos):
        gx, gk = ctx.sim.gradient(grad_pos.detach().cpu().numpy().astype(np.float64), ctx.trajectory)
        return torch.as_tensor(gx), torch.as_tensor(gk), None, None


def simulate(sim: Simulator, qpos_ref: np.ndarray, x0: torch.Tensor, knots: torch.Tensor) -> torch.Tensor:
    """Differentiable rollout: ``(F, J, 3)`` simulated joint positions (metres, world).

    Args:
        qpos_ref: ``(nq,)`` reference initial configuration.
        x0: ``(2 nv,)`` initial state as tangent offset from ``qpos_ref`` and velocity.
        knots: ``(K, nu)`` control knots (``ctrl`` units, [-1, 1] times the actuator gear).
    """
    return _RolloutFunction.apply(x0, knots, sim, qpos_ref)
