"""Benchmark of the video front end on the real clips in the shared data (:func:`phymo.data.data_root`).

Per clip: frames examined, share of frames with a detected person, detection speed (frames/s on this
machine, MediaPipe with one thread per inference), and the kinematic fit's mean 2D reprojection error
against the raw keypoints (pixels, keypoints with confidence >= 0.5), and the CPU time the lifter (the fit's 3D
prior) takes per second of video. ``phymo bench pose [--json FILE]`` runs it.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from phymo.data import data_root

from .camera_setup import resolve_camera
from .initialize import initialize
from .video_detection import detect_video

log = logging.getLogger(__name__)

#: (clip name, video path relative to the data folder, calibration TOML or None)
CLIPS = (
    ("mmpose/body3d_demo", "mmpose/body3d_demo.mp4", None),
    ("mmpose/multiperson_street_5frames", "mmpose/demo_multiperson_street_5frames.mp4", None),
    ("mmhuman3d/single_person_demo", "mmhuman3d/single_person_demo.mp4", None),
    ("mmhuman3d/multi_person_demo", "mmhuman3d/multi_person_demo.mp4", None),
    ("sports2d/demo", "sports2d/demo.mp4", "sports2d/Calib_demo.toml"),
    ("pose2sim/balancing_trial/cam01", "pose2sim/balancing_trial/videos/cam01.mp4", None),
)


def available_clips(data_dir: str | Path | None = None) -> list[tuple[str, Path, Path | None]]:
    """``(name, video, calibration or None)`` of the :data:`CLIPS` present (absent ones are skipped with a warning)."""
    root = Path(data_dir) if data_dir is not None else data_root()
    found = []
    for name, rel, calib in CLIPS:
        if not (root / rel).is_file():
            log.warning("benchmark clip %s not found at %s; skipped", name, root / rel)
            continue
        found.append((name, root / rel, None if calib is None else root / calib))
    return found


def run(quick: bool = False, data_dir: str | Path | None = None) -> list[dict]:
    """One row per clip: ``clip, frames, detected_share, detect_fps, fit_reproj_px`` (+ fit_seconds, camera,
    lifter_cpu_s_per_video_s).

    ``quick`` uses the first 30 frames of each clip. Clips whose file is absent are skipped with a warning.
    """
    rows = []
    for name, path, calib in available_clips(data_dir):
        kp = detect_video(path, end=30 if quick else None, require_person=False)
        row = {"clip": name, "frames": kp.num_frames, "detected_share": round(kp.detected_share, 4),
               "detect_fps": round(kp.meta["detect_fps"], 2), "fit_reproj_px": float("nan")}
        if kp.detected.any():
            cam, how = resolve_camera(kp.width, kp.height, calibration=calib)
            t0 = time.perf_counter()
            result = initialize(kp, cam)
            row["fit_reproj_px"] = round(result.reproj_px, 2)
            row["fit_seconds"] = round(time.perf_counter() - t0, 2)
            row["camera"] = "calibration" if calib else "fov"
            row["lifter_cpu_s_per_video_s"] = round(_lifter_cpu_s(kp, cam) / (kp.num_frames / kp.fps), 4)
        rows.append(row)
        log.info("%s", row)
    return rows


def _lifter_cpu_s(kp, camera) -> float:
    """CPU seconds (all threads) of one lift of ``kp``, the weights already loaded."""
    from .lifter import shipped_lifter

    lifter = shipped_lifter()
    points, confidence, _ = kp.to_canonical()
    t0 = time.process_time()
    lifter.lift(points, confidence, camera, kp.fps)
    return time.process_time() - t0
