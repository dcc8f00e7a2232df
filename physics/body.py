"""The simulated humanoid, built from a canonical-topology skeleton with MuJoCo's ``MjSpec``, and Motion <-> qpos.

``MjSpec`` replaced MJCF assembled from strings: as long, but in small named parts, with exact values
(the XML carried 6 significant digits; the compiled models agree to 1e-6) and ``Body.xml`` still written
for inspection.

Model layout (world Z up, metres, kilograms, seconds):

- One MuJoCo body per skeleton joint that has children; its origin is the joint centre and its frame
  is aligned with the parent-aligned joint frame of :class:`phymo.data.Motion` (world-aligned in the
  rest T-pose). Leaf joints (toes, wrists, head top) have no body: they are sites on the parent body.
- The root (pelvis) has a free joint; ``qpos[0:3]`` is the root position and ``qpos[3:7]`` its
  world rotation (w-first, like phymo quaternions).
- Every other body's ball joint is three hinges about the body's local x, y, z axes applied in the
  joint's Euler order (:data:`EULER_ORDER`), so ``local rotation = euler_to_quat(angles, order)``
  (intrinsic, the order MuJoCo composes hinges in one body), each limited to the human range of
  :mod:`phymo.data.joint_limits` about its axis.
- A site named after each canonical joint (in skeleton order) gives simulated joint positions; a
  ``framepos`` sensor on each reads them out of batched rollouts.
- Geoms: capsules along each bone, two capsules under each foot (heel to toe, so the foot rolls);
  segment masses from de Leva's fractions of the total mass. Geoms collide only with the ground plane.
- Actuators: a PD servo on every hinge (a MuJoCo ``position`` actuator: ``ctrl`` is the target angle in
  rad, stiffness and damping from the hinge's effective inertia, :class:`~phymo.physics.config.ServoConfig`,
  force limited to the joint's torque limit), integrated implicitly by MuJoCo at every step
  (``implicitfast``), so the body is moved by joint torques that react to its state at the simulation's
  rate. Then six residual root actuators (force N, torque N m), at zero unless a window is assisted.

The first version drove bare torque motors with open-loop knots (Euler, box feet); with the residual
switched off it fell on every walk (docs/results.md, "Standing on its own feet: what was tried").
"""

from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np

from phymo.data import (
    CANONICAL,
    Motion,
    Skeleton,
    euler_to_quat,
    identity_quat,
    joint_range,
    quat_normalize,
    quat_to_euler,
)
from phymo.data import joint_kind as _kind

from .config import BodyConfig, ServoConfig

#: Intrinsic Euler order of the three hinges per joint (prefix match on the side-less name).
#: The middle axis must not need +-90 degrees: flexion first for legs/spine, abduction first for arms.
EULER_ORDER = {"spine": "YXZ", "chest": "YXZ", "neck": "YXZ", "head": "YXZ", "hip": "YXZ", "knee": "YXZ",
               "ankle": "YXZ", "collar": "XZY", "shoulder": "XZY", "elbow": "ZXY"}

#: Torque limits in N m for a 70 kg person, per joint (all three hinges); scaled with mass.
TORQUE_LIMITS = {"spine": 300.0, "chest": 300.0, "neck": 60.0, "head": 40.0, "hip": 300.0, "knee": 250.0,
                 "ankle": 150.0, "collar": 80.0, "shoulder": 120.0, "elbow": 80.0}

#: Segment mass fractions (de Leva 1996, trunk split across pelvis/spine/chest/collars; hands on forearms).
MASS_FRACTION = {"pelvis": 0.117, "spine": 0.163, "chest": 0.134, "neck": 0.012, "head": 0.069, "hip": 0.1416,
                 "knee": 0.0433, "ankle": 0.0137, "collar": 0.008, "shoulder": 0.0271, "elbow": 0.0223}

#: Capsule radius per segment as a fraction of the body height.
RADIUS_FRACTION = {"pelvis": 0.055, "spine": 0.065, "chest": 0.07, "neck": 0.03, "head": 0.055, "hip": 0.045,
                   "knee": 0.033, "ankle": 0.025, "collar": 0.025, "shoulder": 0.028, "elbow": 0.022}


_MASS_TOTAL = sum(v * (1 if k in ("pelvis", "spine", "chest", "neck", "head") else 2)
                  for k, v in MASS_FRACTION.items())


#: qpos layout: root position (m), root rotation (w-first quaternion), then the hinge angles (rad)
ROOT_POS, ROOT_QUAT, HINGE_QPOS = slice(0, 3), slice(3, 7), slice(7, None)
#: qvel layout: root linear (world, m/s) and angular (body frame, rad/s) velocity, then the hinge speeds
ROOT_DOF, HINGE_DOF = slice(0, 6), slice(6, None)
#: the residual root actuators (force x, y, z in N, torque x, y, z in N m per unit ctrl times their gear)
NUM_RESIDUAL = 6


@dataclass(frozen=True)
class Body:
    """A compiled humanoid: the MJCF, the model, index maps between the skeleton and MuJoCo, and the servos.

    Controls (``ctrl``) are the hinge servos' target angles (rad, ``num_hinges`` of them, in qpos order), then
    the :data:`NUM_RESIDUAL` residual root actuators (normalized to [-1, 1]; zero unless a window is assisted).
    """

    skeleton: Skeleton
    config: BodyConfig
    servo: ServoConfig
    xml: str  # the model as MJCF, for inspection
    model: mujoco.MjModel
    hinge_joints: tuple[int, ...]  # skeleton joint per hinge triple, in qpos order
    site_ids: np.ndarray  # (J,) MuJoCo site id per skeleton joint
    kp: np.ndarray  # (num_hinges,) servo stiffness, N m / rad
    kv: np.ndarray  # (num_hinges,) servo damping, N m s / rad
    torque_limit: np.ndarray  # (num_hinges,) N m
    residual_gear: np.ndarray  # (NUM_RESIDUAL,) N or N m per unit ctrl

    @property
    def nq(self) -> int:
        return self.model.nq

    @property
    def nv(self) -> int:
        return self.model.nv

    @property
    def nu(self) -> int:
        return self.model.nu

    @property
    def num_hinges(self) -> int:
        return len(self.kp)

    @property
    def timestep(self) -> float:
        return float(self.model.opt.timestep)

    @property
    def actuator_names(self) -> list[str]:
        """Actuator names in ``ctrl`` order (hinge servos, named after their hinge, then the residual ones)."""
        return [self.model.actuator(i).name for i in range(self.nu)]

    def foot_sites(self) -> list[int]:
        return [self.skeleton.index(n) for n in ("left_ankle", "left_toe", "right_ankle", "right_toe")]

    def foot_heights(self) -> np.ndarray:
        """Height above the ground of each foot joint of :meth:`foot_sites` when its foot stands flat, m."""
        height = self.skeleton.height()
        out = []
        for j in self.foot_sites():
            ankle = j if self.skeleton.children(j) else self.skeleton.parents[j]
            centre, size, pitch = _foot_box(ankle, self.skeleton, self.config, height)
            up = np.array([-np.sin(pitch), 0.0, np.cos(pitch)])  # the sole's normal in the ankle's frame
            offset = np.zeros(3) if j == ankle else self.skeleton.offsets[j]
            out.append(size[2] - up @ centre + up @ offset)
        return np.array(out)

    def ground_geoms(self) -> tuple[set[int], set[int]]:
        """Geom ids of the feet and of the forearms with the hands: the parts that may touch the ground."""
        feet, hands = set(), set()
        for g in range(self.model.ngeom):
            body = self.model.body(self.model.geom_bodyid[g]).name
            if body.endswith("_ankle"):
                feet.add(g)
            elif body.endswith("_elbow"):
                hands.add(g)
        return feet, hands


#: the most the ankle may stand above the toe joint, as a share of their distance (a foot stood on end)
MAX_FOOT_DROP = 0.95


def _foot_pitch(toe: np.ndarray, clearance: float, ankle_height: float | None) -> float:
    """Pitch (rad, about the ankle's y axis) of the sole frame that puts the ankle ``ankle_height`` above a
    flat sole with the toe joint (offset ``toe`` from the ankle) ``clearance`` above it; 0 for None."""
    if ankle_height is None:
        return 0.0
    reach = float(np.hypot(toe[0], toe[2]))
    drop = ankle_height - clearance  # ankle above the toe joint
    if not -1e-9 <= drop <= MAX_FOOT_DROP * reach + 1e-9:  # tolerance: an estimate clipped to the bounds
        raise ValueError(f"ankle_height must lie between sole_clearance ({clearance:.3f} m) and that plus "
                         f"{MAX_FOOT_DROP} x the ankle-to-toe length (+{MAX_FOOT_DROP * reach:.3f} m), "
                         f"got {ankle_height}")
    # the toe's depth below the ankle in a frame pitched by p is reach * sin(p - atan2(toe_z, toe_x))
    return float(np.arcsin(drop / reach) + np.arctan2(toe[2], toe[0]))


def _foot_box(j: int, skeleton: Skeleton, config: BodyConfig, height: float) -> tuple[np.ndarray, np.ndarray, float]:
    """Centre and half sizes (ankle frame, m) and pitch (rad) of ``j``'s foot box: heel to toe, its sole
    ``sole_clearance`` (default 2 cm, scaled) below the toe joint, pitched so a flat foot puts the ankle at
    ``ankle_height`` (:func:`_foot_pitch`)."""
    toe_offset = skeleton.offsets[skeleton.children(j)[0]]
    clear = 0.02 * height / 1.73 if config.sole_clearance is None else config.sole_clearance
    pitch = _foot_pitch(toe_offset, clear, config.ankle_height)
    c, s = np.cos(pitch), np.sin(pitch)
    rot = np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])  # ankle frame -> sole frame (about y)
    toe = rot @ toe_offset
    thick = 0.02 * height / 1.73
    x0, x1 = -0.35 * abs(toe[0]), toe[0] + 0.02 * height / 1.73
    z0 = toe[2] - clear
    z1 = max(z0 + thick, min(0.0, toe[2] + 0.6 * abs(toe[2]) + 0.5 * thick))
    size = np.array([(x1 - x0) / 2, 0.32 * abs(toe[0]) + 0.5 * thick, (z1 - z0) / 2])
    return rot.T @ np.array([(x0 + x1) / 2, 0, (z0 + z1) / 2]), size, pitch


def _capsules(j: int, skeleton: Skeleton) -> list[tuple[np.ndarray, np.ndarray]]:
    """End points ``(a, b)`` (joint frame, m) of the capsules along ``j``'s bones: one per child, the pelvis a
    transverse one between the hips instead of one per hip, the head's on its middle, the forearm's reaching
    past the wrist (the hand rides on it), the shin's ending a radius above the ankle."""
    kind, children = _kind(skeleton.names[j]), skeleton.children(j)
    hips = [skeleton.offsets[c] for c in children if _kind(skeleton.names[c]) == "hip"]
    out = []
    for c in children:
        if kind == "pelvis" and _kind(skeleton.names[c]) == "hip":
            continue
        bone = skeleton.offsets[c]
        a, b = (0.3 * bone, 0.7 * bone) if kind == "head" else (np.zeros(3), 1.15 * bone if kind == "elbow" else bone)
        if kind == "knee":  # the shin's rounded end stops at the ankle, not below it (it touched the ground)
            b = bone * max(0.5, 1.0 - RADIUS_FRACTION["knee"] * skeleton.height() / np.linalg.norm(bone))
        out.append((a, b))
    if kind == "pelvis" and len(hips) == 2:
        out.append((hips[0], hips[1]))
    return out


def _foot_capsules(j: int, skeleton: Skeleton, config: BodyConfig, height: float) -> list[np.ndarray]:
    """``fromto`` (ankle frame, m) and radius of the two capsules of ``j``'s foot: heel to toe tip, side by side,
    their lowest points on the sole of the foot's box (:func:`_foot_box`). Rounded soles let the foot roll
    from heel to toe, and the contact changes smoothly with the foot's pitch; a box stood on its edges."""
    centre, (hx, hy, hz), pitch = _foot_box(j, skeleton, config, height)
    c, s = np.cos(pitch), np.sin(pitch)
    to_ankle = np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]]).T  # sole frame -> ankle frame
    r = min(hz, hy / 2, 0.022 * height / 1.73)
    out = []
    for y in (-(hy - r), hy - r):
        a = centre + to_ankle @ np.array([-hx + r, y, -hz + r])
        b = centre + to_ankle @ np.array([hx - r, y, -hz + r])
        out.append(np.concatenate([a, b, [r]]))
    return out


def _add_geoms(body, j: int, skeleton: Skeleton, config: BodyConfig, height: float) -> None:
    """Joint ``j``'s geoms on MjSpec body ``body``: two sole capsules for an ankle, capsules along the bones
    otherwise, with the segment's mass (de Leva fractions of ``config.mass``) shared by length."""
    name, kind = skeleton.names[j], _kind(skeleton.names[j])
    mass = MASS_FRACTION[kind] * config.mass / _MASS_TOTAL
    if kind == "ankle":
        for k, cap in enumerate(_foot_capsules(j, skeleton, config, height)):
            body.add_geom(name=f"{name}_sole{k}", type=mujoco.mjtGeom.mjGEOM_CAPSULE, fromto=cap[:6],
                          size=[cap[6], 0, 0], mass=mass / 2)
        return
    segments = _capsules(j, skeleton)
    lengths = [np.linalg.norm(b - a) / (0.4 if kind == "head" else 1.15 if kind == "elbow" else 1.0)
               for a, b in segments]
    total = sum(lengths) or 1.0
    radius = RADIUS_FRACTION[kind] * height
    for k, ((a, b), length) in enumerate(zip(segments, lengths, strict=True)):
        body.add_geom(name=f"{name}_g{k}", type=mujoco.mjtGeom.mjGEOM_CAPSULE, fromto=np.concatenate([a, b]),
                      size=[min(radius, 0.45 * max(np.linalg.norm(b - a), 1e-3)), 0, 0],
                      mass=max(mass * length / total, 1e-3))


def _spec(config: BodyConfig, timestep: float) -> mujoco.MjSpec:
    """An empty humanoid world: options (implicitfast, so that the servos' damping is integrated implicitly;
    dense Newton solver; no warm start, so that a state alone determines a rollout), defaults (hinge
    armature and damping, geoms that collide only with the floor) and the floor."""
    spec = mujoco.MjSpec()
    spec.modelname = "phymo_humanoid"
    spec.compiler.degree = True
    opt = spec.option
    opt.timestep, opt.iterations, opt.tolerance, opt.ls_iterations = timestep, config.solver_iterations, 1e-8, 10
    opt.solver, opt.integrator = mujoco.mjtSolver.mjSOL_NEWTON, mujoco.mjtIntegrator.mjINT_IMPLICITFAST
    opt.jacobian = mujoco.mjtJacobian.mjJAC_DENSE
    opt.disableflags |= mujoco.mjtDisableBit.mjDSBL_WARMSTART
    spec.default.joint.armature, spec.default.joint.damping = config.armature, [config.damping, 0, 0]
    geom = spec.default.geom
    geom.contype, geom.conaffinity, geom.condim = 1, 0, 3
    geom.friction, geom.solref, geom.solimp = [config.friction, 0.005, 0.0001], [0.02, 1], [0.9, 0.95, 0.001, 0.5, 2]
    spec.worldbody.add_geom(name="floor", type=mujoco.mjtGeom.mjGEOM_PLANE, size=[0, 0, 1], contype=0, conaffinity=1)
    return spec


def _effective_inertia(model: mujoco.MjModel, poses: np.ndarray) -> np.ndarray:
    """``(nv,)`` median over ``poses (P, nq)`` of each dof's effective inertia ``1 / (M^-1)_jj``: what a force on
    that dof alone accelerates, with the rest of the body free to move (kg m^2 for hinges)."""
    data = mujoco.MjData(model)
    out = np.empty((len(poses), model.nv))
    for i, q in enumerate(poses):
        data.qpos[:] = q
        mujoco.mj_forward(model, data)
        inv = np.zeros((model.nv, model.nv))
        mujoco.mj_solveM(model, data, inv, np.eye(model.nv))
        out[i] = 1.0 / np.diag(inv)
    return np.median(out, axis=0)


def build_body(skeleton: Skeleton = CANONICAL, config: BodyConfig | None = None, servo: ServoConfig | None = None,
               timestep: float = 1 / 120, poses: Motion | None = None) -> Body:
    """Build (with MuJoCo's ``MjSpec``) and compile the humanoid for ``skeleton`` (canonical joint names).

    The servo gains follow from the hinges' effective inertia in the frames of ``poses`` (default: standing in
    the rest pose), see :class:`~phymo.physics.config.ServoConfig`; ``config`` and ``servo`` default to their
    classes' defaults. See the module docstring for the layout.
    """
    config, servo = config or BodyConfig(), servo or ServoConfig()
    if config.height is not None:
        skeleton = skeleton.scaled(config.height / skeleton.height())
    height = skeleton.height()
    spec = _spec(config, timestep)
    hinge_joints: list[int] = []
    hinges: list[tuple[str, float]] = []  # (hinge joint name, torque limit N m)

    def emit(j: int, parent) -> None:
        name, kind = skeleton.names[j], _kind(skeleton.names[j])
        body = parent.add_body(name=name, pos=np.zeros(3) if skeleton.parents[j] < 0 else skeleton.offsets[j])
        if skeleton.parents[j] < 0:
            body.add_freejoint(name="root")
        else:
            hinge_joints.append(j)
            lim = np.degrees(joint_range(name))
            for ax in EULER_ORDER[kind]:
                i = "XYZ".index(ax)
                body.add_joint(name=f"{name}_{ax.lower()}", type=mujoco.mjtJoint.mjJNT_HINGE, axis=np.eye(3)[i],
                               limited=mujoco.mjtLimited.mjLIMITED_TRUE, range=lim[i])
                hinges.append((f"{name}_{ax.lower()}", TORQUE_LIMITS[kind] * config.mass / 70.0))
        _add_geoms(body, j, skeleton, config, height)
        body.add_site(name=name, size=[0.01, 0, 0])
        for c in skeleton.children(j):
            if skeleton.children(c):
                emit(c, body)
            else:
                body.add_site(name=skeleton.names[c], pos=skeleton.offsets[c], size=[0.01, 0, 0])

    emit(next(j for j in range(skeleton.num_joints) if skeleton.parents[j] < 0), spec.worldbody)
    servos = []
    for joint, limit in hinges:
        act = spec.add_actuator(name=joint, target=joint, trntype=mujoco.mjtTrn.mjTRN_JOINT)
        act.forcelimited, act.forcerange = mujoco.mjtLimited.mjLIMITED_TRUE, [-limit, limit]
        servos.append(act)
    residual_gear = np.array([config.residual_force] * 3 + [0.2 * config.residual_force] * 3)
    for k in range(NUM_RESIDUAL):
        spec.add_actuator(name=f"residual_{k}", target="root", trntype=mujoco.mjtTrn.mjTRN_JOINT,
                          gear=np.eye(6)[k] * residual_gear[k], ctrllimited=mujoco.mjtLimited.mjLIMITED_TRUE,
                          ctrlrange=[-1, 1])
    for name in skeleton.names:  # site positions read out of batched rollouts
        spec.add_sensor(name=name, type=mujoco.mjtSensor.mjSENS_FRAMEPOS, objtype=mujoco.mjtObj.mjOBJ_SITE,
                        objname=name)
    for act in servos:
        act.set_to_position(kp=1.0, kv=0.0)
    model = spec.compile()
    if poses is None:
        qpos = model.qpos0[None].copy()
        qpos[:, 2] = height * 0.53
    else:
        qpos = _motion_qpos(skeleton, hinge_joints, model.nq, poses)
    inertia = _effective_inertia(model, qpos)[HINGE_DOF]
    w = 2 * np.pi * servo.frequency
    kp, kv = inertia * w ** 2, 2 * servo.damping_ratio * inertia * w
    for act, p, v in zip(servos, kp, kv, strict=True):
        act.set_to_position(kp=float(p), kv=float(v))
    model = spec.compile()
    site_ids = np.array([mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_SITE, n) for n in skeleton.names])
    return Body(skeleton, config, servo, spec.to_xml(), model, tuple(hinge_joints), site_ids, kp, kv,
                np.array([lim for _, lim in hinges]), residual_gear)


def _motion_qpos(skeleton: Skeleton, hinge_joints, nq: int, motion: Motion) -> np.ndarray:
    t = motion.num_frames
    qpos = np.zeros((t, nq))
    qpos[:, ROOT_POS] = motion.root_translation
    qpos[:, ROOT_QUAT] = quat_normalize(motion.rotations[:, 0])
    adr = 7
    for j in hinge_joints:
        qpos[:, adr:adr + 3] = quat_to_euler(motion.rotations[:, j], EULER_ORDER[_kind(skeleton.names[j])])
        adr += 3
    qpos[:, HINGE_QPOS] = np.unwrap(qpos[:, HINGE_QPOS], axis=0)  # no 2 pi jumps between frames to interpolate over
    return qpos


def motion_to_qpos(body: Body, motion: Motion) -> np.ndarray:
    """``(T, nq)`` MuJoCo positions for a motion (root translation/rotation, hinge Euler angles, rad).

    Leaf joints' rotations are dropped (they move nothing); angles outside the hinge ranges are kept; each
    hinge's angle is continuous over time (no 2 pi jumps), so that servo targets interpolate between frames.
    """
    return _motion_qpos(body.skeleton, body.hinge_joints, body.nq, motion)


def qpos_to_motion(body: Body, qpos: np.ndarray, fps: float) -> Motion:
    """The :class:`Motion` (on the body's skeleton) of ``qpos (T, nq)``; leaf rotations are identity."""
    qpos = np.asarray(qpos, dtype=np.float64)
    rot = identity_quat((qpos.shape[0], body.skeleton.num_joints))
    rot[:, 0] = quat_normalize(qpos[:, ROOT_QUAT])
    adr = 7
    for j in body.hinge_joints:
        rot[:, j] = euler_to_quat(qpos[:, adr:adr + 3], EULER_ORDER[_kind(body.skeleton.names[j])])
        adr += 3
    return Motion(body.skeleton, fps, qpos[:, ROOT_POS].copy(), rot)


def qpos_to_qvel(body: Body, qpos: np.ndarray, dt: float) -> np.ndarray:
    """``(T, nv)`` velocities by finite differences of ``qpos (T, nq)`` sampled every ``dt`` seconds.

    Central differences inside, one-sided at the ends (tangent space, via ``mj_differentiatePos``).
    """
    t = qpos.shape[0]
    qvel = np.zeros((t, body.nv))
    if t < 2:
        return qvel
    fwd = np.zeros((t - 1, body.nv))
    for i in range(t - 1):
        mujoco.mj_differentiatePos(body.model, fwd[i], dt, qpos[i], qpos[i + 1])
    qvel[0], qvel[-1] = fwd[0], fwd[-1]
    qvel[1:-1] = 0.5 * (fwd[:-1] + fwd[1:])
    return qvel


def site_positions(body: Body, qpos: np.ndarray, data: mujoco.MjData | None = None) -> np.ndarray:
    """``(T, J, 3)`` world positions of the skeleton-joint sites for ``qpos (T, nq)``, metres."""
    data = data or mujoco.MjData(body.model)
    qpos = np.atleast_2d(qpos)
    out = np.zeros((qpos.shape[0], body.skeleton.num_joints, 3))
    for i, q in enumerate(qpos):
        data.qpos[:] = q
        mujoco.mj_kinematics(body.model, data)
        out[i] = data.site_xpos[body.site_ids]
    return out
