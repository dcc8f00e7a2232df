"""Servo targets that anticipate: the reference's joint angles moved by what the servos must push.

A position servo pulls with ``kp (target - q) - kv qdot``. Aimed at the reference's angles it sags under
load (a standing ankle carries about 40 N m, a tenth of a radian of its stiffness) and brakes every fast
limb with its damping; the planner then spends its samples re-learning gravity. So the targets are moved
by what the servo must add at the reference's own state (:func:`servo_targets`):

    target = q_ref + (kv qdot_ref + tau_ref) / kp,

with ``tau_ref`` the reference's inverse dynamics: the generalized forces ``M qacc + c`` of its motion,
whose six root rows the ground must supply under the feet in contact (non-negative forces in a friction
pyramid at the corners of each sole, least squares, :func:`ground_forces`); the joint torques are what
remains. In flight no foot can push, and the joint torques are those of the limbs alone. Torques are kept
within the joints' limits and smoothed over time like the reference (a foot coming into contact moves the
load between the legs within a frame; the servo targets would jump by a tenth of a radian). Measured on
the true motion (docs/results.md, "The body stands on its own"): without them the planner's offsets on a
standing clip grew to 0.1-0.2 rad at the ankles (re-learning gravity), and its MPJPE was 20 mm, 14 with them.
"""

from __future__ import annotations

import mujoco
import numpy as np
import scipy.optimize

from phymo.data import FOOT_CONTACT, FOOT_JOINTS

from .body import HINGE_DOF, HINGE_QPOS, ROOT_DOF, Body
from .smoothing import smooth_frames

#: friction coefficient of the pyramid the planned ground forces lie in (below the ground's 1.0, so the
#: contact can supply them)
PLAN_FRICTION = 0.7


def _sole_corners(body: Body) -> dict[int, np.ndarray]:
    """Per foot joint of :meth:`Body.foot_sites` (ankle, toe of each side): the sole points it stands on, in its
    foot body's frame (heel ends of the sole capsules for the ankle, toe ends for the toe)."""
    m, out = body.model, {}
    for k, j in enumerate(body.foot_sites()):
        side = "left" if k < 2 else "right"
        points = []
        for g in range(m.ngeom):
            if m.geom(g).name.startswith(f"{side}_ankle_sole"):
                axis = np.zeros(9)
                mujoco.mju_quat2Mat(axis, m.geom_quat[g])
                half = m.geom_size[g][1] * axis.reshape(3, 3)[:, 2]
                points.append(m.geom_pos[g] + (-half if k % 2 == 0 else half) - [0, 0, m.geom_size[g][0]])
        out[j] = np.array(points)
    return out


def ground_forces(model: mujoco.MjModel, data: mujoco.MjData, points: list[tuple[int, np.ndarray]],
                  root_wrench: np.ndarray) -> np.ndarray:
    """Generalized force ``(nv,)`` of ground forces at ``points`` (``(body id, world point)``) that best supply
    ``root_wrench`` (the 6 root rows of the force the motion needs): each force in a four-sided friction
    pyramid, found by non-negative least squares, lightly damped so that redundant points share the load."""
    if not points:
        return np.zeros(model.nv)
    edges = np.array([[PLAN_FRICTION, 0, 1], [-PLAN_FRICTION, 0, 1], [0, PLAN_FRICTION, 1], [0, -PLAN_FRICTION, 1]])
    jac = np.zeros((3, model.nv))
    columns = []
    for body_id, point in points:
        mujoco.mj_jac(model, data, jac, None, point, body_id)
        columns.append(jac.T @ edges.T)  # (nv, 4): generalized force per unit edge force
    basis = np.concatenate(columns, axis=1)
    beta, _ = scipy.optimize.nnls(np.vstack([basis[ROOT_DOF], 1e-3 * np.eye(basis.shape[1])]),
                                  np.concatenate([root_wrench, np.zeros(basis.shape[1])]))
    return basis @ beta


def reference_torques(body: Body, qpos: np.ndarray, qvel: np.ndarray, fps: float, sigma: float) -> np.ndarray:
    """``(T, num_hinges)`` joint torques (N m) that move the body along ``qpos (T, nq)``, ``qvel (T, nv)`` with
    its root carried by the feet in contact (see the module docstring), within the torque limits, smoothed over
    ``sigma`` frames."""
    m, d = body.model, mujoco.MjData(body.model)
    qacc = np.gradient(qvel, 1.0 / fps, axis=0) if len(qvel) > 1 else np.zeros_like(qvel)
    corners = _sole_corners(body)
    feet = body.foot_sites()
    out = np.zeros((len(qpos), body.num_hinges))
    force = np.zeros(m.nv)
    for t in range(len(qpos)):
        d.qpos[:], d.qvel[:] = qpos[t], qvel[t]
        mujoco.mj_forward(m, d)
        mujoco.mj_mulM(m, d, force, qacc[t])
        force += d.qfrc_bias - d.qfrc_passive
        heights = d.site_xpos[body.site_ids[feet], 2]
        down = FOOT_CONTACT.in_contact(np.pad(heights[:, None], ((0, 0), (2, 0))), FOOT_JOINTS)
        points = []
        for j, touching in zip(feet, down, strict=True):
            if touching:
                bid = m.site_bodyid[body.site_ids[j]]
                for p in corners[j]:
                    world = d.xpos[bid] + d.xmat[bid].reshape(3, 3) @ p
                    points.append((bid, world * [1.0, 1.0, 0.0]))
        out[t] = (force - ground_forces(m, d, points, force[ROOT_DOF]))[HINGE_DOF]
    return smooth_frames(np.clip(out, -body.torque_limit, body.torque_limit), sigma)


def servo_targets(body: Body, qpos: np.ndarray, qvel: np.ndarray, fps: float, sigma: float) -> np.ndarray:
    """``(T, num_hinges)`` servo targets (rad) under which the servos push ``reference_torques`` (smoothed over
    ``sigma`` frames) and cancel their own damping at the reference's state (module docstring)."""
    tau = reference_torques(body, qpos, qvel, fps, sigma)
    return qpos[:, HINGE_QPOS] + (body.kv * qvel[:, HINGE_DOF] + tau) / body.kp
