"""End-to-end benchmark of ``phymo reconstruct`` on the real clips of the shared data (:func:`phymo.data.data_root`).

Per clip: frames, wall time of each pipeline stage (keypoint detection, kinematic fit, physics,
export with overlay) and in total, and the seconds of computing per second of video (1 is real time).
Default settings (Optimus, device ``auto``), so the same command measures the CUDA
case on a machine with a GPU. ``phymo bench app [--quick] [--json FILE]``.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

from phymo.app.pipeline import PipelineConfig, run_pipeline
from phymo.pose import available_clips

log = logging.getLogger(__name__)

STAGES = ("keypoints", "kinematic", "physics", "export")


def run(quick: bool = False, data_dir: str | Path | None = None) -> list[dict]:
    """One row per clip: ``clip, frames, device, <stage>_s..., total_s, compute_s_per_video_s``.

    ``quick`` reconstructs the first second of each clip. Clips whose file is absent are skipped with a warning.
    """
    rows = []
    for name, path, calib in available_clips(data_dir):
        config = PipelineConfig(end=1.0 if quick else None, calibration=None if calib is None else str(calib))
        with tempfile.TemporaryDirectory(prefix="phymo-bench-") as out:
            report = run_pipeline(Path(out), config, video=path)
        t = report["timings_s"]
        rows.append({"clip": name, "frames": report["input"]["frames"], "fps": round(report["input"]["fps"], 2),
                     "device": report["config"]["resolved_device"],
                     **{f"{s}_s": round(t[s], 2) for s in STAGES}, "total_s": round(t["total"], 2),
                     "compute_s_per_video_s": round(report["compute_s_per_video_s"], 2)})
        log.info("%s", rows[-1])
    return rows
