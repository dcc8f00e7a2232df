"""Plausibility of a motion, one definition each: foot contact, skating, floating, penetration, residual force.

Positions are ``(T, J, 3)`` world positions, Z up, metres, ground plane at ``z = 0`` unless a ``ground_z``
is given. :data:`FOOT_CONTACT` is the one definition of foot-ground contact and :func:`plausibility` the one
summary every report, evaluation, plot and the physics use; :mod:`phymo.data.metrics` is their face.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .skeleton import FOOT_JOINTS


def jitter(positions, fps: float) -> float:
    """Mean joint acceleration magnitude ``mean ||x_{t-1} - 2 x_t + x_{t+1}|| * fps^2`` (no ground truth needed).

    A plausibility measure of temporal smoothness, in units/s^2 (m/s^2 for metre inputs).

    Args:
        positions: ``(T, J, 3)`` positions, ``T >= 3``.
        fps: frames per second.
    """
    positions = np.asarray(positions, dtype=np.float64)
    if positions.ndim != 3 or positions.shape[0] < 3:
        raise ValueError(f"jitter needs (T >= 3, J, 3) positions, got {positions.shape}")
    acc = positions[:-2] - 2 * positions[1:-1] + positions[2:]
    return float(np.linalg.norm(acc, axis=-1).mean()) * fps**2


#: Standard gravity, m/s^2 (body weight = mass * G).
G = 9.81


@dataclass(frozen=True)
class FootContact:
    """The one definition of foot-ground contact, used by every report, plot, evaluation and the physics.

    A foot joint is in contact in a frame when its height above the ground is at most its contact height
    (ankles stand higher than toes); a foot joint in contact in two consecutive frames slides when its
    horizontal speed exceeds ``slide_speed``. The heights suit the canonical skeleton standing flat
    (retargeted motion capture stands with the ankles about 0.075 m and the toes about 0 m up): looser
    ones count a lifting heel as a sliding contact, so that even true walking would "skate".

    Attributes:
        ankle_height, toe_height: contact heights of the ankle and toe joints above the ground, metres.
        slide_speed: horizontal speed above which a foot joint in contact slides, m/s.
        ankle_standing, toe_standing: heights of the ankle and toe joints above the sole when the foot
            stands flat, metres; the lowest foot point is a joint's height minus its standing height
            (:func:`floating`). A reconstruction passes its body's own (``Body.foot_heights``).
    """

    ankle_height: float = 0.09
    toe_height: float = 0.03
    slide_speed: float = 0.2
    ankle_standing: float = 0.075
    toe_standing: float = 0.0

    def heights(self, joint_names: Sequence[str]) -> np.ndarray:
        """``(F,)`` contact heights of foot joints named ``*ankle`` or ``*toe``, metres."""
        return np.array([self.ankle_height if "ankle" in n else self.toe_height for n in joint_names])

    def standing(self, joint_names: Sequence[str]) -> np.ndarray:
        """``(F,)`` standing heights (above the sole) of foot joints named ``*ankle`` or ``*toe``, metres."""
        return np.array([self.ankle_standing if "ankle" in n else self.toe_standing for n in joint_names])

    def in_contact(self, foot_positions: np.ndarray, joint_names: Sequence[str], ground_z: float = 0.0) -> np.ndarray:
        """``(T, F)`` booleans for foot joint positions ``(T, F, 3)`` (world, Z up, metres)."""
        return np.asarray(foot_positions)[..., 2] - ground_z <= self.heights(joint_names)


#: the contact definition of every figure phymo reports
FOOT_CONTACT = FootContact()


@dataclass(frozen=True)
class FootSkating:
    """Foot-skating summary.

    Attributes:
        skating_ratio: share of frame transitions ``t -> t+1`` in which some foot joint is in contact in
            both frames and slides horizontally faster than the threshold.
        mean_slide_speed: mean horizontal speed (units/s) of foot joints over transitions where they
            are in contact in both frames; 0 when there are none.
        contact_ratio: share of (transition, foot) pairs in contact in both frames.
    """

    skating_ratio: float
    mean_slide_speed: float
    contact_ratio: float


def slide_speeds(positions, fps: float, foot_indices: Sequence[int], contact_height: float | Sequence[float],
                 ground_z: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Horizontal speed ``(T-1, F)`` of each foot joint between consecutive frames and whether it is in
    contact in both ``(T-1, F)`` (see :func:`foot_skating` for the arguments)."""
    positions = np.asarray(positions, dtype=np.float64)
    if positions.ndim != 3 or positions.shape[-1] != 3:
        raise ValueError(f"positions must be (T, J, 3), got {positions.shape}")
    if not fps > 0:
        raise ValueError(f"fps must be positive, got {fps}")
    feet = positions[:, list(foot_indices), :]
    height = np.broadcast_to(np.asarray(contact_height, dtype=np.float64), (feet.shape[1],))
    contact = feet[..., 2] - ground_z <= height
    speed = np.linalg.norm(feet[1:, :, :2] - feet[:-1, :, :2], axis=-1) * fps
    return speed, contact[:-1] & contact[1:]


def foot_skating(positions, fps: float, foot_indices: Sequence[int],
                 contact_height: float | Sequence[float] = 0.05, speed_threshold: float = 0.2,
                 ground_z: float = 0.0) -> FootSkating:
    """Foot skating: feet that slide while touching the ground.

    A foot joint is in contact in a frame when its height above ``ground_z`` is at most
    ``contact_height`` (per joint if a sequence; :class:`FootContact` holds phymo's values).

    Args:
        positions: ``(T, J, 3)`` world positions, Z up, metres (thresholds are in the same unit).
        fps: frames per second.
        foot_indices: joints treated as feet (e.g. ankles and toes).
        contact_height: contact threshold above the ground, one value or one per foot index.
        speed_threshold: horizontal speed above which a contact foot counts as sliding, units/s.
        ground_z: height of the ground plane.
    """
    speed, both = slide_speeds(positions, fps, foot_indices, contact_height, ground_z)
    if speed.size == 0:
        return FootSkating(0.0, 0.0, 0.0)
    sliding = both & (speed > speed_threshold)
    return FootSkating(
        skating_ratio=float(sliding.any(axis=1).mean()),
        mean_slide_speed=float(speed[both].mean()) if both.any() else 0.0,
        contact_ratio=float(both.mean()),
    )


def floating(positions, foot_indices: Sequence[int], standing_heights: Sequence[float],
             ground_z: float = 0.0) -> np.ndarray:
    """``(T,)`` height of the lowest foot point above the ground, >= 0 (PhysDiff's "floating", per frame).

    The lowest foot point of a frame is the lowest foot joint's height minus that joint's height above
    the sole when the foot stands flat (``standing_heights``); a frame whose lowest point is below the
    ground floats 0 (that is penetration).
    """
    z = np.asarray(positions, dtype=np.float64)[:, list(foot_indices), 2] - np.asarray(standing_heights) - ground_z
    return np.maximum(z.min(axis=1), 0.0)


@dataclass(frozen=True)
class Penetration:
    """Ground-penetration summary (units of the input, usually metres).

    Attributes:
        mean_depth: mean over frames of the deepest penetration among the joints (0 in frames above ground).
        max_depth: deepest penetration over all frames and joints.
        frame_ratio: share of frames in which some joint is below the ground.
    """

    mean_depth: float
    max_depth: float
    frame_ratio: float


def penetration(positions, joint_indices: Sequence[int] | None = None, ground_z: float = 0.0) -> Penetration:
    """Depth of joints below the ground plane ``z = ground_z``.

    Args:
        positions: ``(T, J, 3)`` world positions, Z up.
        joint_indices: joints to check (e.g. the feet); all joints if None.
        ground_z: height of the ground plane.
    """
    positions = np.asarray(positions, dtype=np.float64)
    if positions.ndim != 3 or positions.shape[-1] != 3:
        raise ValueError(f"positions must be (T, J, 3), got {positions.shape}")
    z = positions[..., 2] if joint_indices is None else positions[:, list(joint_indices), 2]
    if z.size == 0:
        return Penetration(0.0, 0.0, 0.0)
    per_frame = np.maximum(ground_z - z, 0.0).max(axis=1)
    return Penetration(float(per_frame.mean()), float(per_frame.max()), float((per_frame > 0).mean()))


@dataclass(frozen=True)
class Plausibility:
    """How physically plausible a motion looks; each name means this one measure in every report.

    Attributes:
        foot_skating: share of frame transitions with a sliding foot joint in contact (:func:`foot_skating`).
        foot_slide_mps: mean horizontal speed of foot joints in contact, m/s.
        contact_share: share of (transition, foot joint) pairs in contact.
        floating_mm: mean over frames of the lowest foot point's height above the ground (:func:`floating`), mm.
        penetration_mm, penetration_max_mm: mean over frames of the deepest joint below the ground, and the
            deepest over the motion, mm (:func:`penetration`).
        jitter_mps2: mean joint acceleration, m/s^2 (:func:`jitter`).
        residual_force_n, residual_force_p95_n: mean and 95th percentile over simulated frames of the
            residual root force's magnitude, N (None without one: a kinematic motion).
        residual_share, residual_p95_share: the same as shares of the body weight.
    """

    foot_skating: float
    foot_slide_mps: float
    contact_share: float
    floating_mm: float
    penetration_mm: float
    penetration_max_mm: float
    jitter_mps2: float
    residual_force_n: float | None = None
    residual_force_p95_n: float | None = None
    residual_share: float | None = None
    residual_p95_share: float | None = None


def _foot_indices(joint_names: Sequence[str]) -> list[int]:
    return [list(joint_names).index(n) for n in FOOT_JOINTS]


def plausibility(positions, fps: float, joint_names: Sequence[str], contact: FootContact = FOOT_CONTACT,
                 standing_heights: Sequence[float] | None = None, residual_force=None,
                 body_weight_n: float | None = None) -> Plausibility:
    """The :class:`Plausibility` of world joint positions ``(T, J, 3)`` (Z up, metres, ``T >= 3``).

    Args:
        joint_names: the ``J`` joint names (the canonical foot joints must be among them).
        contact: the foot-contact definition.
        standing_heights: the foot joints' heights above the sole standing flat, in :data:`FOOT_JOINTS`
            order, metres (default: ``contact``'s).
        residual_force: ``(T,)`` residual root force magnitudes, N; NaN on frames not simulated.
        body_weight_n: the body weight the residual is compared with, N.
    """
    pos = np.asarray(positions, dtype=np.float64)
    feet = _foot_indices(joint_names)
    standing = contact.standing(FOOT_JOINTS) if standing_heights is None else standing_heights
    sk = foot_skating(pos, fps, feet, contact.heights(FOOT_JOINTS), contact.slide_speed)
    pen = penetration(pos)
    res = {}
    simulated = None if residual_force is None else np.asarray(residual_force, dtype=np.float64)
    if simulated is not None and np.isfinite(simulated).any():
        simulated = simulated[np.isfinite(simulated)]
        mean, p95 = float(simulated.mean()), float(np.percentile(simulated, 95))
        res = {"residual_force_n": mean, "residual_force_p95_n": p95}
        if body_weight_n:
            res |= {"residual_share": mean / body_weight_n, "residual_p95_share": p95 / body_weight_n}
    return Plausibility(sk.skating_ratio, sk.mean_slide_speed, sk.contact_ratio,
                        1000 * float(floating(pos, feet, standing).mean()), 1000 * pen.mean_depth,
                        1000 * pen.max_depth, jitter(pos, fps), **res)


def plausibility_per_frame(positions, fps: float, joint_names: Sequence[str], contact: FootContact = FOOT_CONTACT,
                           standing_heights: Sequence[float] | None = None) -> dict[str, np.ndarray]:
    """The per-frame ``(T,)`` series behind :func:`plausibility`, for plots: the slide of the foot joints in
    contact in this frame and the one before (mean horizontal speed, m/s; NaN when none is: a swinging foot
    is not sliding), the floating height and the penetration depth (mm)."""
    pos = np.asarray(positions, dtype=np.float64)
    feet = _foot_indices(joint_names)
    standing = contact.standing(FOOT_JOINTS) if standing_heights is None else standing_heights
    speed, both = slide_speeds(pos, fps, feet, contact.heights(FOOT_JOINTS))
    slide = np.full(len(pos), np.nan)
    with np.errstate(invalid="ignore"):
        slide[1:] = np.where(both.any(axis=1), (speed * both).sum(axis=1) / both.sum(axis=1), np.nan)
    depth = np.maximum(-pos[..., 2], 0.0).max(axis=1)
    return {"slide of feet in contact (m/s)": slide, "floating (mm)": 1000 * floating(pos, feet, standing),
            "penetration (mm)": 1000 * depth}


@dataclass(frozen=True)
class SeamJump:
    """How much a reconstruction made of windows turns its root where windows meet.

    Attributes:
        near_seams_deg: the largest frame-to-frame turn of the root within ``margin`` frames of a seam, degrees.
        elsewhere_p95_deg: the 95th percentile of the frame-to-frame turn away from the seams, degrees.
        ratio: the first over the second (a seam that does not show is <= 1.5); NaN without seams.
    """

    near_seams_deg: float
    elsewhere_p95_deg: float
    ratio: float


def seam_jump(root_quats, seams: Sequence[int], margin: int = 2) -> SeamJump:
    """:class:`SeamJump` of root rotations ``(T, 4)`` (unit quaternions, w first) whose windows meet at the
    frames ``seams`` (the first frame of each window after the first)."""
    q = np.asarray(root_quats, dtype=np.float64)
    turn = np.degrees(2 * np.arccos(np.clip(np.abs((q[1:] * q[:-1]).sum(axis=1)), 0.0, 1.0)))  # frame t -> t+1
    near = np.zeros(len(turn), bool)
    for s in seams:
        near[max(0, s - 1 - margin):s + margin] = True
    if not near.any() or near.all():
        return SeamJump(float("nan"), float("nan"), float("nan"))
    top, p95 = float(turn[near].max()), float(np.percentile(turn[~near], 95))
    return SeamJump(top, p95, top / p95 if p95 > 0 else float("inf"))
