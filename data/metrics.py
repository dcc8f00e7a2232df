"""Evaluation metrics for 3D human motion, one definition each (numpy).

Positions are ``(T, J, 3)`` (or any ``(..., J, 3)`` where stated) in one length unit, usually metres;
results come back in that unit (callers convert to millimetres for tables). The world frame is
phymo's: Z up, ground plane at ``z = 0`` unless a ``ground_z`` is given.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from .skeleton import FOOT_JOINTS


def _pair(pred, gt) -> tuple[np.ndarray, np.ndarray]:
    pred, gt = np.asarray(pred, dtype=np.float64), np.asarray(gt, dtype=np.float64)
    if pred.shape != gt.shape:
        raise ValueError(f"prediction and ground truth shapes differ: {pred.shape} vs {gt.shape}")
    if pred.ndim < 2 or pred.shape[-1] not in (2, 3):
        raise ValueError(f"expected points of shape (..., J, 2|3), got {pred.shape}")
    return pred, gt


def mpjpe_global(pred, gt, per_frame: bool = False):
    """Mean per-joint position error without any alignment ("global MPJPE").

    Args:
        pred, gt: ``(..., J, 3)`` positions in the same frame and unit.
        per_frame: return the ``(...)`` array of per-pose means instead of the overall mean.
    """
    pred, gt = _pair(pred, gt)
    err = np.linalg.norm(pred - gt, axis=-1).mean(axis=-1)
    return err if per_frame else float(err.mean())


def mpjpe(pred, gt, root: int = 0, per_frame: bool = False):
    """Root-aligned mean per-joint position error (Human3.6M protocol #1).

    Both poses are translated per frame so that joint ``root`` sits at the origin.

    Args:
        pred, gt: ``(..., J, 3)`` positions.
        root: index of the alignment joint (the pelvis in Human3.6M-17 and the canonical skeleton).
        per_frame: return per-pose means ``(...)`` instead of the overall mean.
    """
    pred, gt = _pair(pred, gt)
    return mpjpe_global(pred - pred[..., root:root + 1, :], gt - gt[..., root:root + 1, :], per_frame)


def procrustes_align(pred, gt) -> np.ndarray:
    """``pred`` aligned to ``gt`` per pose by the best similarity transform (rotation, scale, translation).

    Reflections are excluded (the rotation has determinant +1). Closed form of Umeyama (1991).

    Args:
        pred, gt: ``(..., J, 3)`` positions; each leading index is aligned independently.

    Returns:
        ``(..., J, 3)`` aligned prediction.
    """
    pred, gt = _pair(pred, gt)
    mu_p, mu_g = pred.mean(axis=-2, keepdims=True), gt.mean(axis=-2, keepdims=True)
    p, g = pred - mu_p, gt - mu_g
    cov = np.swapaxes(g, -1, -2) @ p  # (..., 3, 3): sum_j g_j p_j^T
    u, s, vt = np.linalg.svd(cov)
    d = np.sign(np.linalg.det(u @ vt))
    s = s.copy()
    s[..., -1] *= d
    u = u.copy()
    u[..., :, -1] *= d[..., None]
    rot = u @ vt  # maps centred pred onto centred gt
    var_p = (p**2).sum(axis=(-1, -2))
    scale = s.sum(axis=-1) / np.where(var_p > 0, var_p, 1.0)
    return scale[..., None, None] * p @ np.swapaxes(rot, -1, -2) + mu_g


def pa_mpjpe(pred, gt, per_frame: bool = False):
    """MPJPE after per-frame similarity Procrustes alignment (Human3.6M protocol #2).

    Args:
        pred, gt: ``(T, J, 3)`` (or ``(..., J, 3)``) positions.
        per_frame: return per-pose means ``(...)`` instead of the overall mean.
    """
    return mpjpe_global(procrustes_align(pred, gt), gt, per_frame)


def mpjpe_first_aligned(pred, gt, frames: int = 2, per_frame: bool = False):
    """Global MPJPE after the one rigid transform that best aligns the first ``frames`` frames.

    For a prediction made in a world frame of its own: a rotation and translation (no scale, no
    reflection; Kabsch) fitted to all joints of frames ``0..frames-1`` moves the whole sequence onto the
    ground truth, so drift, scale errors and wrong motion over time count, the choice of frame does not
    (WHAM's W-MPJPE aligns the first two frames the same way).

    Args:
        pred, gt: ``(T, J, 3)`` positions.
        frames: how many first frames fix the alignment.
        per_frame: return ``(T,)`` per-frame means instead of the overall mean.
    """
    pred, gt = _pair(pred, gt)
    if pred.ndim != 3 or not 1 <= frames <= pred.shape[0]:
        raise ValueError(f"need (T, J, 3) positions with 1 <= frames <= T, got {pred.shape} and frames={frames}")
    src, dst = pred[:frames].reshape(-1, 3), gt[:frames].reshape(-1, 3)
    mu_s, mu_d = src.mean(axis=0), dst.mean(axis=0)
    u, _, vt = np.linalg.svd((dst - mu_d).T @ (src - mu_s))
    rot = u @ np.diag([1.0, 1.0, np.sign(np.linalg.det(u @ vt))]) @ vt  # maps centred pred onto centred gt
    return mpjpe_global((pred - mu_s) @ rot.T + mu_d, gt, per_frame)


def reprojection_error_px(pred_2d, gt_2d, confidence=None, per_frame: bool = False):
    """Mean 2D distance in pixels over visible keypoints: the one reprojection error of every report.

    Args:
        pred_2d, gt_2d: ``(..., K, 2)`` pixel coordinates.
        confidence: ``(..., K)``; keypoints with confidence ``<= 0`` are ignored (all used if None).
        per_frame: return the ``(...)`` means per pose (NaN where none is visible) instead of the overall mean.

    Returns:
        The mean pixel distance, NaN when no keypoint is visible.
    """
    pred_2d, gt_2d = _pair(pred_2d, gt_2d)
    err = np.linalg.norm(pred_2d - gt_2d, axis=-1)
    visible = np.ones(err.shape, bool) if confidence is None else np.broadcast_to(np.asarray(confidence) > 0, err.shape)
    if per_frame:
        with np.errstate(invalid="ignore"):
            return np.where(visible.any(axis=-1), (err * visible).sum(axis=-1) / visible.sum(axis=-1), np.nan)
    return float(err[visible].mean()) if visible.any() else float("nan")


def acceleration_error(pred, gt, fps: float | None = None) -> float:
    """Mean norm of the difference of second differences (HMR-video / VIBE "accel error").

    ``a_t = x_{t-1} - 2 x_t + x_{t+1}`` per joint; the error is ``mean ||a_pred - a_gt||`` over frames
    ``1..T-2`` and joints. With ``fps=None`` the result is per frame squared, as VIBE reports it
    (metres/frame^2 for metre inputs; VIBE's tables multiply by 1000, mm/frame^2). With ``fps`` given
    it is per second squared (multiplied by ``fps**2``).

    Args:
        pred, gt: ``(T, J, 3)`` positions, ``T >= 3``.
        fps: frame rate for a per-second result, or None for per-frame.
    """
    pred, gt = _pair(pred, gt)
    if pred.shape[0] < 3:
        raise ValueError(f"acceleration needs at least 3 frames, got {pred.shape[0]}")
    acc = pred[:-2] - 2 * pred[1:-1] + pred[2:] - (gt[:-2] - 2 * gt[1:-1] + gt[2:])
    err = float(np.linalg.norm(acc, axis=-1).mean())
    return err if fps is None else err * fps**2


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
    return acceleration_error(positions, np.zeros_like(positions), fps)


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
class ProtocolResult:
    """A metric aggregated per action, then averaged over actions with equal weight."""

    per_action: dict[str, float]
    mean: float


def protocol_by_action(results: Iterable[tuple[str, np.ndarray]]) -> ProtocolResult:
    """Human3.6M-style aggregation: all frames of an action pooled, then the mean over actions.

    Args:
        results: ``(action, per-frame errors)`` pairs, e.g. one per subject/action/camera clip; action
            names should already be normalised (``"Walking 1"`` and ``"Walking"`` are one action).

    Returns:
        Per-action means (frames of all clips of that action pooled) and their unweighted mean.
    """
    pooled: dict[str, list[np.ndarray]] = defaultdict(list)
    for action, errors in results:
        pooled[action].append(np.atleast_1d(np.asarray(errors, dtype=np.float64)).ravel())
    if not pooled:
        raise ValueError("protocol_by_action needs at least one result")
    per_action = {a: float(np.concatenate(v).mean()) for a, v in sorted(pooled.items())}
    return ProtocolResult(per_action, float(np.mean(list(per_action.values()))))
