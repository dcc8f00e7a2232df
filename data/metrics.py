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


def reprojection_error_px(pred_2d, gt_2d, confidence=None) -> float:
    """Mean 2D distance in pixels over visible keypoints.

    Args:
        pred_2d, gt_2d: ``(..., K, 2)`` pixel coordinates.
        confidence: ``(..., K)``; keypoints with confidence ``<= 0`` are ignored (all used if None).

    Returns:
        The mean pixel distance, NaN when no keypoint is visible.
    """
    pred_2d, gt_2d = _pair(pred_2d, gt_2d)
    err = np.linalg.norm(pred_2d - gt_2d, axis=-1)
    if confidence is None:
        return float(err.mean())
    visible = np.broadcast_to(np.asarray(confidence) > 0, err.shape)
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


def foot_skating(positions, fps: float, foot_indices: Sequence[int],
                 contact_height: float | Sequence[float] = 0.05, speed_threshold: float = 0.2,
                 ground_z: float = 0.0) -> FootSkating:
    """Foot skating: feet that slide while touching the ground.

    A foot joint is in contact in a frame when its height above ``ground_z`` is at most
    ``contact_height`` (per joint if a sequence: ankles sit higher than toes, e.g. ``0.12`` vs ``0.05``
    m for the canonical skeleton).

    Args:
        positions: ``(T, J, 3)`` world positions, Z up, metres (thresholds are in the same unit).
        fps: frames per second.
        foot_indices: joints treated as feet (e.g. ankles and toes).
        contact_height: contact threshold above the ground, one value or one per foot index.
        speed_threshold: horizontal speed above which a contact foot counts as sliding, units/s.
        ground_z: height of the ground plane.
    """
    positions = np.asarray(positions, dtype=np.float64)
    if positions.ndim != 3 or positions.shape[-1] != 3:
        raise ValueError(f"positions must be (T, J, 3), got {positions.shape}")
    if not fps > 0:
        raise ValueError(f"fps must be positive, got {fps}")
    feet = positions[:, list(foot_indices), :]
    if positions.shape[0] < 2 or feet.shape[1] == 0:
        return FootSkating(0.0, 0.0, 0.0)
    height = np.broadcast_to(np.asarray(contact_height, dtype=np.float64), (feet.shape[1],))
    contact = feet[..., 2] - ground_z <= height
    both = contact[:-1] & contact[1:]  # (T-1, F)
    speed = np.linalg.norm(feet[1:, :, :2] - feet[:-1, :, :2], axis=-1) * fps
    sliding = both & (speed > speed_threshold)
    return FootSkating(
        skating_ratio=float(sliding.any(axis=1).mean()),
        mean_slide_speed=float(speed[both].mean()) if both.any() else 0.0,
        contact_ratio=float(both.mean()),
    )


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
