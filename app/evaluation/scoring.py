"""How a result is scored against its sample's truth, and its plausibility as a record: one definition for the
evaluation, the demo's ``truth.json`` and the multi-view trials."""

from __future__ import annotations

import dataclasses

import numpy as np

from phymo.data import CANONICAL, metrics

from .types import Sample


def score(pred: np.ndarray, sample: Sample, plausibility: dict) -> tuple[dict[str, float], dict[str, list[float]]]:
    """Metrics of world positions ``pred (T, J, 3)`` against the sample's ground truth, with ``plausibility``
    (:func:`phymo.data.metrics.plausibility` as a dict) of the whole motion.

    Returns sequence values (see :data:`phymo.app.evaluation.summary.METRICS` for units; with
    ``sample.align_frames`` also ``mpjpe_cam``, the global error before alignment, mm) and per-frame values of
    the four per-frame metrics (pooled per action in the summary).
    """
    j = sample.joints
    p, g = pred[:, j], sample.gt[:, j]
    if sample.pelvis_from_hips:  # the truth's root is the hips' midpoint: so is the prediction's
        p = p.copy()
        p[:, 0] = pred[:, [CANONICAL.index("left_hip"), CANONICAL.index("right_hip")]].mean(axis=1)
    cam = sample.obs.camera
    per_frame = {"mpjpe": metrics.mpjpe(p, g, per_frame=True) * 1000,
                 "pa_mpjpe": metrics.pa_mpjpe(p, g, per_frame=True) * 1000,
                 "mpjpe_g": (metrics.mpjpe_first_aligned(p, g, sample.align_frames, per_frame=True)
                             if sample.align_frames else metrics.mpjpe_global(p, g, per_frame=True)) * 1000,
                 "mpjpe_2d": metrics.reprojection_error_px(cam.project(p), cam.project(g), per_frame=True)}
    values = {k: float(v.mean()) for k, v in per_frame.items()}
    if sample.align_frames:
        values["mpjpe_cam"] = metrics.mpjpe_global(p, g) * 1000
    values["accel_error"] = metrics.acceleration_error(p, g) * 1000
    values.update(plausibility)
    return values, {k: v.tolist() for k, v in per_frame.items()}


def plausibility(positions: np.ndarray, fps: float, rec=None, residual: bool = False) -> dict:
    """:func:`phymo.data.metrics.plausibility` of canonical positions, with the physics body's standing heights
    and (``residual``) its residual force when the physics result ``rec`` is given."""
    kw = {} if rec is None else {"standing_heights": rec.standing_heights, "body_weight_n": rec.body_weight_n,
                                 "residual_force": rec.residual_force if residual else None}
    return dataclasses.asdict(metrics.plausibility(positions, fps, CANONICAL.names, **kw))
