"""The tracking controller: computed torques that make the simulated body follow the reference.

Every window starts from the torques of one closed-loop pass of this controller through the window:
at each control knot it asks for the reference's acceleration plus a PD correction of the simulated
state (gains placing the closed-loop poles, :func:`tracking_gains`), turns that into generalized
forces with the mass matrix, and lets the stance feet carry what the body's root needs
(:func:`planned_contact_force`): the legs get the torques that push those forces into the ground, and
the residual root actuators keep only what no stance foot can give. The knots it applies, rolled out
open-loop, reproduce the pass exactly, so a window's first rollout already tracks the reference.

"Tracking" in phymo means this: the simulated body following its reference.
"""

from __future__ import annotations

import mujoco
import numpy as np
import scipy.optimize

from phymo.data import Motion

from .adjoint import Simulator
from .body import Body, motion_to_qpos, qpos_to_qvel
from .reference import ground_root_height, smooth_frames
from .simulate import check_state, knot_frames

#: a stance foot joint higher than this above its standing height gets no planned contact force, metres
CONTACT_GAP = 0.03


def reference_state(body: Body, reference: Motion, sigma: float,
                    ground_snap: float = 0.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Smoothed reference ``qpos (T, nq)``, ``qvel (T, nv)``, ``qacc (T, nv)`` of a motion.

    With ``ground_snap > 0`` the root height is first grounded (:func:`ground_root_height`).
    """
    q = motion_to_qpos(body, reference)
    if ground_snap > 0:
        q[:, 2] = ground_root_height(body, q, ground_snap)
    quat = q[:, 3:7]
    for i in range(1, len(quat)):  # sign continuity before smoothing
        if np.dot(quat[i], quat[i - 1]) < 0:
            quat[i:] *= -1
    q = smooth_frames(q, sigma)
    q[:, 3:7] /= np.linalg.norm(q[:, 3:7], axis=1, keepdims=True)
    dt = 1.0 / reference.fps
    v = qpos_to_qvel(body, q, dt)
    a = np.gradient(v, dt, axis=0) if len(v) > 1 else np.zeros_like(v)
    return q, v, a


def tracking_gains(pole: float, interval_s: float) -> tuple[float, float]:
    """PD gains ``(kp 1/s^2, kd 1/s)`` placing both closed-loop poles of a sampled double integrator
    (control held over ``interval_s``) at ``pole`` in [0, 1) (0: deadbeat)."""
    return (1 - pole) ** 2 / interval_s ** 2, (1 - pole) * (3 + pole) / (2 * interval_s)


def planned_contact_force(m: mujoco.MjModel, data: mujoco.MjData, sites: np.ndarray, root_wrench: np.ndarray,
                          friction: float) -> np.ndarray:
    """Generalized force ``(nv,)`` of ground forces under the MuJoCo sites ``sites`` (the stance foot
    joints) that best supply ``root_wrench`` (the 6 root rows of the force the motion needs).

    Each site gets a point of support on the ground below it; its force lies in a four-sided friction
    pyramid (coefficient ``friction``), found by non-negative least squares (lightly damped so that
    redundant supports share the load). What the feet cannot supply (pulling, or a wrench no stance can
    give) stays with the residual root actuators.
    """
    if len(sites) == 0:
        return np.zeros(m.nv)
    edges = np.array([[friction, 0, 1], [-friction, 0, 1], [0, friction, 1], [0, -friction, 1]])
    jac = np.zeros((3, m.nv))
    columns = []
    for sid in sites:
        point = data.site_xpos[sid].copy()
        point[2] = 0.0
        mujoco.mj_jac(m, data, jac, None, point, m.site_bodyid[sid])
        columns.append(jac.T @ edges.T)  # (nv, 4): generalized force per unit edge force
    basis = np.concatenate(columns, axis=1)
    beta, _ = scipy.optimize.nnls(np.vstack([basis[:6], 1e-3 * np.eye(basis.shape[1])]),
                                  np.concatenate([root_wrench, np.zeros(basis.shape[1])]))
    return basis @ beta


def tracking_knots(sim: Simulator, qref, vref, aref, qpos0, qvel0, kp: float, kd: float, stance: np.ndarray | None,
                   friction: float) -> np.ndarray:
    """Control knots ``(K, nu)`` of a computed-torque tracking pass of the reference frames from ``(qpos0, qvel0)``.

    Knot ``k`` is computed from the simulated state at knot ``k`` and held (zero-order) until the next,
    so rolling the knots out open-loop reproduces this pass exactly. With ``stance (F, 4)`` (foot joints
    in stance per frame) the ground forces under the stance feet within ``CONTACT_GAP`` of their standing
    height are planned (:func:`planned_contact_force`); the residual root actuators take the rest.
    Raises ``SimulationDiverged``.
    """
    m, d, body = sim.model, mujoco.MjData(sim.model), sim.body
    foot_sites = body.site_ids[body.foot_sites()]
    contact_height = body.foot_heights() + CONTACT_GAP
    frames = knot_frames(sim.num_frames, sim.knot_every)
    knots = np.zeros((len(frames), m.nu))
    nj = m.nu - body.num_residual

    def control(q, v, f):
        err = np.zeros(m.nv)
        mujoco.mj_differentiatePos(m, err, 1.0, q, qref[f])
        d.qpos[:], d.qvel[:] = q, v
        mujoco.mj_forward(m, d)
        qfrc = np.zeros(m.nv)
        mujoco.mj_mulM(m, d, qfrc, aref[f] + kp * err + kd * (vref[f] - v))
        qfrc += d.qfrc_bias - d.qfrc_passive
        if stance is not None:
            down = d.site_xpos[foot_sites, 2] <= contact_height
            qfrc -= planned_contact_force(m, d, foot_sites[stance[f] & down], qfrc[:6], friction)
        u = np.zeros(m.nu)
        u[:nj] = qfrc[6:] / body.gear[:nj]
        if body.num_residual:
            u[nj:] = qfrc[:6] / body.gear[nj:]
        return np.clip(u, -1.0, 1.0)

    mujoco.mj_resetData(m, d)
    q, v = np.array(qpos0, dtype=np.float64), np.array(qvel0, dtype=np.float64)
    for k in range(len(frames) - 1):
        knots[k] = control(q, v, frames[k])
        mujoco.mj_resetData(m, d)
        d.qpos[:], d.qvel[:] = q, v
        for step in range(frames[k] * sim.substeps, frames[k + 1] * sim.substeps):
            d.ctrl[:] = knots[k]
            mujoco.mj_step(m, d)
            check_state(m, d, step)
        q, v = d.qpos.copy(), d.qvel.copy()
    if len(knots) > 1:
        knots[-1] = knots[-2]  # unused by a hold; keeps the smoothness term quiet
    return knots
