"""Score a finished reconstruction against a 3D truth seen by a known camera (triangulated markers, the synthetic walk).

A run's world frame is its own: its kinematic fit defines the ground and stores the camera as
extrinsics world -> camera (``camera_R``, ``camera_t`` in ``kinematic.npz`` and ``motion.npz``). A
truth comes in a world of its own too (a calibration's lab, the synthesized walk's world) with that
same physical camera's extrinsics. So the truth moves into the run's world through the camera frame,
``X_run = R_run^T (R_truth X + t_truth - t_run)``, with nothing fitted: MPJPE (root-aligned) and
PA-MPJPE are then the usual ones, the distance of the truth from the camera stays where the calibration
puts it, and ``mpjpe_cam`` (no alignment at all) measures how far the run placed the body in the camera's
view: depth, size and ground tilt from the height and focal guesses. Global MPJPE (``mpjpe_g``) aligns
the first :data:`ALIGN_FRAMES` frames rigidly (:func:`phymo.data.metrics.mpjpe_first_aligned`), so it
measures drift and the motion's own errors over time. Plausibility figures stay in the run's world.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from phymo.app.outputs import window_count_fields
from phymo.data import CANONICAL, Camera, DataFormatError, Motion, Observations, PhymoError, Skeleton

from .scoring import score
from .types import Sample

log = logging.getLogger(__name__)

#: frames whose rigid alignment fixes the global MPJPE (as WHAM's W-MPJPE)
ALIGN_FRAMES = 2
#: the errors ``truth.json`` holds, mm
TRUTH_KEYS = ("mpjpe", "pa_mpjpe", "mpjpe_g")


@dataclass(frozen=True)
class Truth:
    """Ground truth of one camera's view.

    Attributes:
        positions: ``(N, J, 3)`` canonical order, the truth's world, metres; row ``f`` is video frame ``f``;
            NaN where a joint was not measured.
        camera: that camera's extrinsics in the truth's world (world -> camera; intrinsics unused).
        joints: canonical indices scored, the alignment root first.
        pelvis_from_hips: the truth's pelvis slot holds the hips' midpoint (markers have no pelvis).
        reference: what the truth is, in words (written to ``truth.json``).
    """

    positions: np.ndarray
    camera: Camera
    joints: tuple[int, ...]
    pelvis_from_hips: bool
    reference: str


def in_run_world(points: np.ndarray, truth_camera: Camera, run_camera: Camera) -> np.ndarray:
    """Points ``(..., 3)`` of the truth's world, metres, in the run's world through the shared camera frame."""
    return (truth_camera.to_camera(points) - run_camera.t) @ run_camera.R


def _motion_camera(z) -> Camera:
    K, (w, h) = z["camera_K"], z["image_size"]
    return Camera(K[0, 0], K[1, 1], K[0, 2], K[1, 2], int(w), int(h), z["camera_R"], z["camera_t"])


def run_sample(out: Path, truth: Truth) -> Sample:
    """The finished run in ``out`` (``kinematic.npz``, ``motion.npz``, ``report.json``) as a scored sample.

    The run's frames that the truth covers are kept; joints the truth lacks in any of them are not scored.
    """
    out = Path(out)
    try:
        with np.load(out / "kinematic.npz", allow_pickle=False) as z:
            kin = {k: z[k] for k in z.files}
        with np.load(out / "motion.npz", allow_pickle=False) as z:
            physics = z["positions"]
        report = json.loads((out / "report.json").read_text())
    except (OSError, KeyError, ValueError) as exc:
        raise PhymoError(f"{out}: not a finished phymo run ({exc})") from None
    frames = kin["frame_index"]
    keep = frames < len(truth.positions)
    if not keep.any():
        raise DataFormatError(f"{truth.reference}: {len(truth.positions)} frames, none of the run's "
                              f"(video frames {frames[0]}..{frames[-1]})")
    gt = truth.positions[frames[keep]]
    joints = [j for j in truth.joints if np.isfinite(gt[:, j]).all()]
    if not joints or joints[0] != truth.joints[0]:
        raise DataFormatError(f"{truth.reference}: the alignment root ({CANONICAL.names[truth.joints[0]]}) is "
                              "missing in some frames")
    if len(joints) < len(truth.joints):
        log.warning("%s: joints missing in some frames, not scored: %s", truth.reference,
                    ", ".join(CANONICAL.names[j] for j in truth.joints if j not in joints))
    camera = _motion_camera(kin)
    skeleton = Skeleton(tuple(str(n) for n in kin["joint_names"]), tuple(int(p) for p in kin["parents"]),
                        kin["offsets"])
    fps = float(kin["fps"])
    motion = Motion(skeleton, fps, kin["root_translation"][keep], kin["rotations"][keep])
    obs = Observations(kin["keypoints_2d"][keep], kin["keypoint_confidence"][keep], camera, fps, motion,
                       {"source": str(out), "frame_indices": frames[keep].tolist()})
    windows = report["windows"]
    extras = {"wall_s": report["timings_s"]["physics"], "steps": sum(w["steps"] for w in windows),
              "evaluations": sum(w["evaluations"] for w in windows),
              **window_count_fields(w["status"] for w in windows)}
    return Sample(obs, in_run_world(gt, truth.camera, camera), joints, pelvis_from_hips=truth.pelvis_from_hips,
                  align_frames=ALIGN_FRAMES, physics=physics[keep], physics_extras=extras,
                  plausibility=report["plausibility"], gt_on_ground=False)


def truth_errors(sample: Sample) -> dict:
    """``{"kinematic": {mpjpe, pa_mpjpe, mpjpe_g}, "physics": {...}}`` in mm, by the evaluation's own scoring."""
    out = {}
    for kind, positions in (("kinematic", sample.obs.kinematic_positions()), ("physics", sample.physics)):
        values, _ = score(positions, sample, {})
        out[kind] = {k: values[k] for k in TRUTH_KEYS}
    return out
