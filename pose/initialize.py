"""From keypoints to the kinematic 3D initialization: gap filling, filtering, canonical mapping, fit."""

from __future__ import annotations

import logging

import numpy as np

from phymo.data import Camera, PhymoError, get_mapping

from .filtering import FilterConfig, filter_keypoints
from .keypoints import Keypoints2D
from .kinematic_fit import FitConfig, FitResult, fit_kinematic, reprojection_error
from .person import fill_gaps
from .segments import MAX_GAP_S

log = logging.getLogger(__name__)


def prepare_keypoints(kp: Keypoints2D, max_gap_s: float = MAX_GAP_S, filter_config: FilterConfig | None = None
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray]:
    """Canonical ``(T, J, 2)`` pixels, ``(T, J)`` confidences, ``(T, J, 3)`` world points or None, filled mask.

    Gaps up to ``max_gap_s`` seconds are filled by linear interpolation (lower confidence), then every
    observed track is filtered with ``filter_config``.
    """
    filter_config = filter_config or FilterConfig()
    pts, conf, world = kp.to_canonical()
    max_gap = int(round(max_gap_s * kp.fps))
    pts, conf2, filled = fill_gaps(pts, conf, max_gap)
    if world is not None:
        world = fill_gaps(world, conf, max_gap)[0]
        world = filter_keypoints(world, conf2, kp.fps, FilterConfig(**{**filter_config.__dict__, "beta": 0.5}))
    pts = filter_keypoints(pts, conf2, kp.fps, filter_config)
    return pts, conf2, world, filled


def initialize(kp: Keypoints2D, camera: Camera, fit_config: FitConfig | None = None, max_gap_s: float = MAX_GAP_S,
               filter_config: FilterConfig | None = None) -> FitResult:
    """Kinematic 3D initialization of the person in ``kp`` seen by ``camera`` (intrinsics).

    Raises :class:`PhymoError` when no frame has a detection. The reprojection error in the result
    (``reproj_px``, also ``report["reproj_px_detected"]``) is measured against the keypoints as detected;
    ``report["reproj_px_filtered"]`` against the gap-filled, filtered ones the fit was made to, which it
    follows more closely. Both are logged, by those names.
    """
    if not kp.detected.any():
        raise PhymoError(f"no person detected in {kp.meta.get('source', 'the keypoints')}")
    pts, conf, world, filled = prepare_keypoints(kp, max_gap_s, filter_config)
    fit_config = fit_config or FitConfig()
    meta = {**kp.meta, "joint_set": kp.joint_set, "detected": kp.detected.tolist(),
            "frame_indices": kp.frame_indices.tolist(), "filled_entries": int(filled.sum())}
    result = fit_kinematic(pts, conf, camera, kp.fps, world, fit_config, meta, get_mapping(kp.joint_set).approximate)
    raw, raw_conf, _ = kp.to_canonical()
    filtered = result.reproj_px
    result.reproj_px = reprojection_error(result.motion.positions(), result.camera, raw, raw_conf)
    result.report |= {"reproj_px_detected": result.reproj_px, "reproj_px_filtered": filtered}
    log.info("kinematic fit: reprojection error %.1f px against the detected keypoints (%.1f px against the "
             "filtered ones it was fitted to)", result.reproj_px, filtered)
    return result
