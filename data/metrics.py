"""Evaluation metrics for 3D human motion, one definition each (numpy).

Positions are ``(T, J, 3)`` (or any ``(..., J, 3)`` where stated) in one length unit, usually metres;
results come back in that unit (callers convert to millimetres for tables). The world frame is
phymo's: Z up, ground plane at ``z = 0`` unless a ``ground_z`` is given.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from .plausibility import (  # noqa: F401 - the plausibility definitions, re-exported: metrics is their face
    FOOT_CONTACT,
    FOOT_JOINTS,
    FootContact,
    FootSkating,
    G,
    Penetration,
    Plausibility,
    SeamJump,
    floating,
    foot_skating,
    jitter,
    penetration,
    plausibility,
    plausibility_per_frame,
    seam_jump,
    slide_speeds,
)


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


def kabsch(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Rotation R minimizing ``|R src - dst|`` for centred point sets ``(N, 3)`` (reflections excluded)."""
    u, _, vt = np.linalg.svd(dst.T @ src)
    return u @ np.diag([1.0, 1.0, np.sign(np.linalg.det(u @ vt))]) @ vt


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
    rot = kabsch(src - mu_s, dst - mu_d)  # maps centred pred onto centred gt
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
