"""From keypoints to the kinematic 3D initialization: gap filling, filtering, canonical mapping, fit."""

from __future__ import annotations

import logging

import numpy as np

from phymo.data import Camera, Observations, PhymoError, get_mapping

from .filtering import FilterConfig, filter_keypoints
from .ground import Ground
from .keypoints import Keypoints2D
from .kinematic_fit import LIFTER_PRIORS, FitConfig, FitResult, fit_kinematic, reprojection_error
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
               filter_config: FilterConfig | None = None, ground: Ground | None = None) -> FitResult:
    """Kinematic 3D initialization of the person in ``kp`` seen by ``camera`` (intrinsics), on ``ground`` when
    given (the clip's world frame; else estimated under the body, :func:`fit_kinematic`).

    Raises :class:`PhymoError` when no frame has a detection. The reprojection error in the result
    (``reproj_px``, also ``report["reproj_px_detected"]``) is measured against the keypoints as detected;
    ``report["reproj_px_filtered"]`` against the gap-filled, filtered ones the fit was made to, which it
    follows more closely. Both are logged, by those names.
    """
    if not kp.detected.any():
        raise PhymoError(f"no person detected in {kp.meta.get('source', 'the keypoints')}")
    pts, conf, world, filled = prepare_keypoints(kp, max_gap_s, filter_config)
    fit_config = fit_config or FitConfig()
    raw, raw_conf, _ = kp.to_canonical()
    world, world_weight, prior = _prior(kp, raw, raw_conf, camera, world, fit_config.prior)
    meta = {**kp.meta, "joint_set": kp.joint_set, "detected": kp.detected.tolist(),
            "frame_indices": kp.frame_indices.tolist(), "filled_entries": int(filled.sum()), "prior": prior}
    result = fit_kinematic(pts, conf, camera, kp.fps, world, fit_config, meta, get_mapping(kp.joint_set).approximate,
                           ground=ground, world_weight=world_weight)
    filtered = result.reproj_px
    result.reproj_px = reprojection_error(result.motion.positions(), result.camera, raw, raw_conf)
    result.report |= {"reproj_px_detected": result.reproj_px, "reproj_px_filtered": filtered, "prior": prior}
    log.info("kinematic fit: reprojection error %.1f px against the detected keypoints (%.1f px against the "
             "filtered ones it was fitted to)", result.reproj_px, filtered)
    return result


def _prior(kp: Keypoints2D, raw: np.ndarray, raw_conf: np.ndarray, camera: Camera, landmarks: np.ndarray | None,
           choice: str) -> tuple[np.ndarray | None, np.ndarray | None, str]:
    """The fit's 3D prior, its weights (None: the keypoints' confidences) and its name as reported.

    The lifter sees the keypoints as detected (``raw``, ``raw_conf``: canonical order; its training modelled a
    detector's errors, gaps included) and gives every joint, the hidden ones too, so all of them are weighted
    fully: that keeps the body's proportions where the legs are not seen. ``fused`` averages it with the
    detector's world landmarks where both exist (:func:`fuse_priors`), the lifter alone where there are none.
    ``mediapipe`` asks for the landmarks; keypoints without them (files of other detectors) are fitted without a
    3D prior, which is said.
    """
    if choice in LIFTER_PRIORS:
        from .lifter import shipped_lifter

        lifted = shipped_lifter().lift(raw, raw_conf, camera, kp.fps)
        if choice == "fused" and landmarks is not None:
            return fuse_priors(lifted, landmarks, get_mapping(kp.joint_set).canonical_indices()), \
                np.ones(lifted.shape[:2]), "fused"
        return lifted, np.ones(lifted.shape[:2]), "lifter"
    if choice == "mediapipe" and landmarks is None:
        log.warning("--prior mediapipe: these keypoints carry no world landmarks; the fit runs without a 3D prior")
    if choice == "none" or landmarks is None:
        return None, None, "none"
    return landmarks, None, "mediapipe"


def fuse_priors(lifted: np.ndarray, landmarks: np.ndarray, joints: np.ndarray) -> np.ndarray:
    """The mean of two hip-centred 3D estimates ``(T, J, 3)`` on ``joints`` (the lifter's elsewhere), the landmarks
    first turned onto the lifter's per frame: MediaPipe's are only roughly camera-aligned, and two estimates with
    different errors average to a better one (the choice is measured in docs/results.md)."""
    from phymo.data import metrics

    fused = lifted.copy()
    for i in range(len(lifted)):
        a, b = landmarks[i, joints], lifted[i, joints]
        rot = metrics.kabsch(a - a.mean(0), b - b.mean(0))
        fused[i, joints] = 0.5 * (b + (a - a.mean(0)) @ rot.T + b.mean(0))
    return fused


def fitted_kinematic(obs: Observations) -> Observations:
    """The observations the product makes of ``obs``'s keypoints (synthetic ones, from mocap): its kinematic fit
    with the default prior, as ``phymo reconstruct`` fits MediaPipe's joints (the camera's intrinsics known), in the
    fit's own world on the ground it estimated. The evaluation and the meta-training tasks share it, so their
    windows are the reconstruction's."""
    cam = obs.camera  # only its intrinsics count: the fit replaces the extrinsics with its own world's
    kp = Keypoints2D.from_canonical(obs.keypoints_2d, obs.confidence, obs.fps, cam.width, cam.height,
                                    meta={"source": "synthetic"})
    return initialize(kp, cam).observations
