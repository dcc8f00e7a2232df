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
- A site named after each canonical joint (in skeleton order) gives simulated joint positions.
- Geoms: capsules along each bone, a box per foot; segment masses from de Leva's fractions of the
  total mass (each geom's density follows from its mass and volume). Geoms collide only with the
  ground plane.
- Actuators: a torque motor on every hinge (``ctrl`` in [-1, 1] times the joint's torque limit in
  N m) and, optionally, six residual root actuators (force N, torque N m) last.
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


@dataclass(frozen=True)
class BodyConfig:
    """Body and world parameters.

    Attributes:
        height: standing height in metres the skeleton is scaled to; None keeps the skeleton's size.
        mass: total body mass, kg.
        timestep: simulation step, s (the reconstruction derives it from the video fps).
        friction: sliding friction coefficient of the ground.
        armature: rotor inertia added to every hinge, kg m^2 (stabilizes light segments).
        damping: passive hinge damping, N m s / rad.
        residual: add six residual root actuators (penalized in the loss, reported).
        residual_force: residual force limit, N; the torque limit is a fifth of it in N m.
        solver_iterations: constraint solver iterations (Newton).
        sole_clearance: height of the toe joints above the sole, m; None: 0.02 m scaled with height.
            Reconstruction estimates it from the kinematic estimate so that its ground is z = 0.
        ankle_height: height of the ankle joints above the ground when the foot stands flat, m; None:
            the rest pose's. The foot box is pitched in the ankle's frame so that a flat foot has the
            ankle this high and the toe joint at ``sole_clearance``: motion capture skeletons stand with
            the ankle rotated away from their rest pose, and a foot box built for the rest pose then
            stands on its toe edge and rocks (measured in docs/results.md). Reconstruction estimates it
            with ``ReconstructConfig.fit_ankle``.
    """

    height: float | None = None
    mass: float = 70.0
    timestep: float = 0.005
    friction: float = 1.0
    armature: float = 0.02
    damping: float = 2.0
    residual: bool = True
    residual_force: float = 3000.0
    solver_iterations: int = 20
    sole_clearance: float | None = None
    ankle_height: float | None = None


@dataclass(frozen=True)
class Body:
    """A compiled humanoid: the MJCF, the model, and index maps between the skeleton and MuJoCo."""

    skeleton: Skeleton
    config: BodyConfig
    xml: str  # the model as MJCF, for inspection
    model: mujoco.MjModel
    hinge_joints: tuple[int, ...]  # skeleton joint per hinge triple, in qpos order
    site_ids: np.ndarray  # (J,) MuJoCo site id per skeleton joint
    gear: np.ndarray  # (nu,) torque/force per unit ctrl

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
    def num_residual(self) -> int:
        return 6 if self.config.residual else 0

    @property
    def actuator_names(self) -> list[str]:
        """Actuator names in ``ctrl`` order (hinge motors, then the residual root actuators)."""
        return [self.model.actuator(i).name for i in range(self.nu)]

    def foot_sites(self) -> list[int]:
        return [self.skeleton.index(n) for n in ("left_ankle", "left_toe", "right_ankle", "right_toe")]

    def foot_heights(self) -> np.ndarray:
        """Height above the ground of each foot joint of :meth:`foot_sites` when its foot box stands flat, m."""
        rest = self.skeleton.rest_positions()
        feet = self.foot_sites()
        out = np.zeros(len(feet))
        for k, j in enumerate(feet):
            ankle = j if self.skeleton.children(j) else self.skeleton.parents[j]
            g = self.model.geom(f"{self.skeleton.names[ankle]}_foot")
            up = np.zeros(9)
            mujoco.mju_quat2Mat(up, g.quat)
            up = up.reshape(3, 3)[:, 2]  # the box's z axis in the ankle's frame (rest orientation)
            out[k] = g.size[2] - up @ g.pos + up @ (rest[j] - rest[ankle])
        return out


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
    past the wrist (the hand rides on it)."""
    kind, children = _kind(skeleton.names[j]), skeleton.children(j)
    hips = [skeleton.offsets[c] for c in children if _kind(skeleton.names[c]) == "hip"]
    out = []
    for c in children:
        if kind == "pelvis" and _kind(skeleton.names[c]) == "hip":
            continue
        bone = skeleton.offsets[c]
        a, b = (0.3 * bone, 0.7 * bone) if kind == "head" else (np.zeros(3), 1.15 * bone if kind == "elbow" else bone)
        out.append((a, b))
    if kind == "pelvis" and len(hips) == 2:
        out.append((hips[0], hips[1]))
    return out


def _add_geoms(body, j: int, skeleton: Skeleton, config: BodyConfig, height: float) -> None:
    """Joint ``j``'s geoms on MjSpec body ``body``: a foot box for an ankle, capsules otherwise, with the segment's
    mass (de Leva fractions of ``config.mass``) shared by length."""
    name, kind = skeleton.names[j], _kind(skeleton.names[j])
    mass = MASS_FRACTION[kind] * config.mass / _MASS_TOTAL
    if kind == "ankle":
        centre, size, pitch = _foot_box(j, skeleton, config, height)
        body.add_geom(name=f"{name}_foot", type=mujoco.mjtGeom.mjGEOM_BOX, pos=centre, size=size, mass=mass,
                      quat=[np.cos(-pitch / 2), 0.0, np.sin(-pitch / 2), 0.0])
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


def _spec(config: BodyConfig) -> mujoco.MjSpec:
    """An empty humanoid world: options, defaults (hinge armature and damping, geoms that collide only with
    the floor, motors with ctrl in [-1, 1]) and the floor."""
    spec = mujoco.MjSpec()
    spec.modelname = "phymo_humanoid"
    spec.compiler.degree = True
    opt = spec.option
    opt.timestep, opt.iterations = config.timestep, config.solver_iterations
    opt.tolerance, opt.ls_iterations = 1e-10, 20
    opt.solver, opt.integrator = mujoco.mjtSolver.mjSOL_NEWTON, mujoco.mjtIntegrator.mjINT_EULER
    opt.disableflags |= mujoco.mjtDisableBit.mjDSBL_WARMSTART
    spec.default.joint.armature, spec.default.joint.damping = config.armature, [config.damping, 0, 0]
    geom = spec.default.geom
    geom.contype, geom.conaffinity, geom.condim = 1, 0, 3
    geom.friction, geom.solref, geom.solimp = [config.friction, 0.005, 0.0001], [0.02, 1], [0.9, 0.95, 0.001, 0.5, 2]
    spec.default.actuator.ctrllimited, spec.default.actuator.ctrlrange = True, [-1, 1]
    spec.worldbody.add_geom(name="floor", type=mujoco.mjtGeom.mjGEOM_PLANE, size=[0, 0, 1], contype=0, conaffinity=1)
    return spec


def build_body(skeleton: Skeleton = CANONICAL, config: BodyConfig = BodyConfig()) -> Body:
    """Build (with MuJoCo's ``MjSpec``) and compile the humanoid for ``skeleton`` (canonical joint names) and
    ``config``: see the module docstring for its layout."""
    if config.mass <= 0:
        raise ValueError(f"body mass must be positive, got {config.mass}")
    if config.height is not None:
        skeleton = skeleton.scaled(config.height / skeleton.height())
    height = skeleton.height()
    spec = _spec(config)
    hinge_joints: list[int] = []
    actuators: list[tuple[str, np.ndarray]] = []  # (target joint, gear (6,))

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
                actuators.append((f"{name}_{ax.lower()}", np.eye(6)[0] * TORQUE_LIMITS[kind] * config.mass / 70.0))
        _add_geoms(body, j, skeleton, config, height)
        body.add_site(name=name, size=[0.01, 0, 0])
        for c in skeleton.children(j):
            if skeleton.children(c):
                emit(c, body)
            else:
                body.add_site(name=skeleton.names[c], pos=skeleton.offsets[c], size=[0.01, 0, 0])

    emit(next(j for j in range(skeleton.num_joints) if skeleton.parents[j] < 0), spec.worldbody)
    if config.residual:
        actuators += [("root", np.eye(6)[k] * config.residual_force * (1.0 if k < 3 else 0.2)) for k in range(6)]
    for k, (joint, gear) in enumerate(actuators):
        spec.add_actuator(name=joint if joint != "root" else f"residual_{k - len(actuators) + 6}", target=joint,
                          trntype=mujoco.mjtTrn.mjTRN_JOINT, gear=gear)
    model = spec.compile()
    site_ids = np.array([mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_SITE, n) for n in skeleton.names])
    return Body(skeleton, config, spec.to_xml(), model, tuple(hinge_joints), site_ids,
                np.array([np.abs(g).max() for _, g in actuators]))


def motion_to_qpos(body: Body, motion: Motion) -> np.ndarray:
    """``(T, nq)`` MuJoCo positions for a motion (root translation/rotation, hinge Euler angles, rad).

    Leaf joints' rotations are dropped (they move nothing); angles outside the hinge ranges are kept.
    """
    t = motion.num_frames
    qpos = np.zeros((t, body.nq))
    qpos[:, 0:3] = motion.root_translation
    qpos[:, 3:7] = quat_normalize(motion.rotations[:, 0])
    adr = 7
    for j in body.hinge_joints:
        order = EULER_ORDER[_kind(body.skeleton.names[j])]
        qpos[:, adr:adr + 3] = quat_to_euler(motion.rotations[:, j], order)
        adr += 3
    return qpos


def qpos_to_motion(body: Body, qpos: np.ndarray, fps: float) -> Motion:
    """The :class:`Motion` (on the body's skeleton) of ``qpos (T, nq)``; leaf rotations are identity."""
    qpos = np.asarray(qpos, dtype=np.float64)
    rot = identity_quat((qpos.shape[0], body.skeleton.num_joints))
    rot[:, 0] = quat_normalize(qpos[:, 3:7])
    adr = 7
    for j in body.hinge_joints:
        rot[:, j] = euler_to_quat(qpos[:, adr:adr + 3], EULER_ORDER[_kind(body.skeleton.names[j])])
        adr += 3
    return Motion(body.skeleton, fps, qpos[:, 0:3].copy(), rot)


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
