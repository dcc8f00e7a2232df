"""The simulated humanoid: MJCF generated from a canonical-topology skeleton, and Motion <-> qpos/qvel.

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

from phymo.data.joint_limits import joint_kind as _kind
from phymo.data.joint_limits import joint_range
from phymo.data.motion import Motion
from phymo.data.rotations import euler_to_quat, identity_quat, quat_normalize, quat_to_euler
from phymo.data.skeleton import CANONICAL, Skeleton

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
    xml: str
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


def _fmt(v) -> str:
    return " ".join(f"{x:.6g}" for x in np.atleast_1d(v))


def build_body(skeleton: Skeleton = CANONICAL, config: BodyConfig = BodyConfig()) -> Body:
    """Generate and compile the humanoid for ``skeleton`` (canonical joint names) and ``config``."""
    if config.mass <= 0:
        raise ValueError(f"body mass must be positive, got {config.mass}")
    if config.height is not None:
        skeleton = skeleton.scaled(config.height / skeleton.height())
    height = skeleton.height()
    mscale = config.mass / 70.0
    children = {j: skeleton.children(j) for j in range(skeleton.num_joints)}
    body_joints = [j for j in range(skeleton.num_joints) if children[j]]
    hinge_joints: list[int] = []
    lines: list[str] = []

    def geoms_for(j: int) -> list[str]:
        kind, name = _kind(skeleton.names[j]), skeleton.names[j]
        r = RADIUS_FRACTION[kind] * height
        mass = MASS_FRACTION[kind] * config.mass / _MASS_TOTAL
        out = []
        if kind == "ankle":  # foot box from heel to toe, sole 2 cm (scaled) below the toe joint
            clear = 0.02 * height / 1.73 if config.sole_clearance is None else config.sole_clearance
            pitch = _foot_pitch(skeleton.offsets[children[j][0]], clear, config.ankle_height)
            c, s = np.cos(pitch), np.sin(pitch)
            rot = np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])  # ankle frame -> sole frame (about y)
            toe = rot @ skeleton.offsets[children[j][0]]
            thick = 0.02 * height / 1.73
            x0, x1 = -0.35 * abs(toe[0]), toe[0] + 0.02 * height / 1.73
            z0 = toe[2] - clear
            z1 = max(z0 + thick, min(0.0, toe[2] + 0.6 * abs(toe[2]) + 0.5 * thick))
            size = [(x1 - x0) / 2, 0.32 * abs(toe[0]) + 0.5 * thick, (z1 - z0) / 2]
            center = rot.T @ np.array([(x0 + x1) / 2, 0, (z0 + z1) / 2])
            return [f'<geom name="{name}_foot" type="box" pos="{_fmt(center)}" size="{_fmt(size)}" '
                    f'euler="0 {np.degrees(-pitch):.6g} 0" mass="{mass:.6g}"/>']
        segs = [skeleton.offsets[c] for c in children[j]]
        if kind == "pelvis":  # a transverse capsule between the hips and one up to the spine
            hips = [skeleton.offsets[c] for c in children[j] if _kind(skeleton.names[c]) == "hip"]
            segs = [s for c, s in zip(children[j], segs, strict=True) if _kind(skeleton.names[c]) != "hip"]
            if len(hips) == 2:
                segs.append(None)
        lengths = [np.linalg.norm(hips[0] - hips[1]) if s is None else np.linalg.norm(s) for s in segs]
        total = sum(lengths) or 1.0
        for k, (s, length) in enumerate(zip(segs, lengths, strict=True)):
            a, b = (hips[0], hips[1]) if s is None else (np.zeros(3), s)
            if kind == "head":
                a, b = np.zeros(3) + 0.3 * s, 0.7 * s
            if kind in ("elbow",):
                b = s * 1.15  # the hand rides on the forearm
            m = mass * length / total
            rr = min(r, 0.45 * max(np.linalg.norm(b - a), 1e-3))
            out.append(f'<geom name="{name}_g{k}" type="capsule" fromto="{_fmt(np.concatenate([a, b]))}" '
                       f'size="{rr:.6g}" mass="{max(m, 1e-3):.6g}"/>')
        return out

    def emit(j: int, depth: int) -> None:
        name, kind = skeleton.names[j], _kind(skeleton.names[j])
        pad = "  " * depth
        pos = np.zeros(3) if skeleton.parents[j] < 0 else skeleton.offsets[j]
        lines.append(f'{pad}<body name="{name}" pos="{_fmt(pos)}">')
        if skeleton.parents[j] < 0:
            lines.append(f'{pad}  <freejoint name="root"/>')
        else:
            hinge_joints.append(j)
            lim = np.degrees(joint_range(name))
            for ax in EULER_ORDER[kind]:
                i = "XYZ".index(ax)
                axis = np.eye(3)[i]
                lines.append(f'{pad}  <joint name="{name}_{ax.lower()}" type="hinge" axis="{_fmt(axis)}" '
                             f'range="{lim[i][0]:.10g} {lim[i][1]:.10g}"/>')
        lines.extend(pad + "  " + g for g in geoms_for(j))
        lines.append(f'{pad}  <site name="{name}" size="0.01"/>')
        for c in children[j]:
            if children[c]:
                emit(c, depth + 1)
            else:
                lines.append(f'{pad}  <site name="{skeleton.names[c]}" pos="{_fmt(skeleton.offsets[c])}" size="0.01"/>')
        lines.append(f"{pad}</body>")

    root = body_joints[0]
    emit(root, 2)
    actuators, gear = [], []
    for j in hinge_joints:
        name, kind = skeleton.names[j], _kind(skeleton.names[j])
        for ax in EULER_ORDER[kind]:
            g = TORQUE_LIMITS[kind] * mscale
            actuators.append(f'<motor name="{name}_{ax.lower()}" joint="{name}_{ax.lower()}" gear="{g:.6g}"/>')
            gear.append(g)
    if config.residual:
        for k in range(6):
            g = config.residual_force * (1.0 if k < 3 else 0.2)
            gvec = np.zeros(6)
            gvec[k] = g
            actuators.append(f'<motor name="residual_{k}" joint="root" gear="{_fmt(gvec)}"/>')
            gear.append(g)
    xml = f"""<mujoco model="phymo_humanoid">
  <compiler angle="degree" autolimits="true"/>
  <option timestep="{config.timestep:.9g}" iterations="{config.solver_iterations}" tolerance="1e-10"
          ls_iterations="20" solver="Newton" integrator="Euler">
    <flag warmstart="disable"/>
  </option>
  <default>
    <joint armature="{config.armature:.6g}" damping="{config.damping:.6g}" limited="true"/>
    <geom contype="1" conaffinity="0" condim="3" friction="{config.friction:.6g} 0.005 0.0001"
          solref="0.02 1" solimp="0.9 0.95 0.001"/>
    <motor ctrlrange="-1 1" ctrllimited="true"/>
  </default>
  <worldbody>
    <geom name="floor" type="plane" size="0 0 1" contype="0" conaffinity="1"/>
{chr(10).join(lines)}
  </worldbody>
  <actuator>
    {chr(10).join('    ' + a for a in actuators).strip()}
  </actuator>
</mujoco>
"""
    model = mujoco.MjModel.from_xml_string(xml)
    site_ids = np.array([mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_SITE, n) for n in skeleton.names])
    return Body(skeleton, config, xml, model, tuple(hinge_joints), site_ids, np.array(gear))


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
