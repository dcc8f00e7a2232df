"""How physically plausible ``phymo reconstruct`` is on the real clips and on the mocap test split
(``phymo bench plausibility [--quick] [--json FILE]``).

One row per real clip of the shared data (:func:`phymo.data.data_root`), reconstructed with the default settings as
``phymo reconstruct`` runs it: the residual root force (mean and 95th percentile, N and share of the body weight),
floating, foot skating, penetration and 2D reprojection error of the physics result beside the kinematic estimate's
(:func:`phymo.data.metrics.plausibility`, the figures of ``report.json``), the windows per outcome (optimized,
re-solved, fell back: :func:`phymo.app.outputs.window_count_fields`), the seam jump (the largest root turn near a
seam over its 95th percentile elsewhere, :func:`phymo.data.metrics.seam_jump`), the stability of the result (the
same run with every keypoint moved by Gaussian noise of 0.01 px: the largest relative change of a plausibility
figure and the mean displacement of the joints), wall time and seconds of computing per second of video. A last row:
the physics on the mocap corpus's test split (``phymo evaluate --dataset mocap``, 4 sequences of 90 frames,
synthetic observations), with its tracking reference's MPJPE and the ground truth's own skating beside it.
"""

from __future__ import annotations

import json
import logging
import tempfile
from pathlib import Path

import numpy as np

from phymo.app.outputs import window_count_fields
from phymo.app.pipeline import PipelineConfig, run_pipeline
from phymo.data import data_root
from phymo.pose import available_clips

log = logging.getLogger(__name__)

#: the plausibility figures whose change under a 0.01 px perturbation is measured, each with the size below which
#: a change is measured against that size instead of the figure (a figure near 0 would make any change huge)
STABLE = {"foot_skating": 0.01, "floating_mm": 1.0, "penetration_mm": 1.0, "residual_force_n": 10.0}
#: standard deviation of the keypoint perturbation, pixels
PERTURB_PX = 0.01


def _perturbed_keypoints(cache: Path, out: Path, seed: int = 0) -> Path:
    """The run's cached keypoints moved by Gaussian noise of :data:`PERTURB_PX` where seen, saved to ``out``."""
    from phymo.pose import load_keypoints

    kp = load_keypoints(next(cache.glob("keypoints-*.npz")))
    noise = np.random.default_rng(seed).normal(0.0, PERTURB_PX, kp.points.shape)
    kp.points[:] = kp.points + noise * (kp.confidence[..., None] > 0)
    return kp.save(out)


def _positions(run: Path) -> np.ndarray:
    """All segments' physics joint positions of a finished run, in input-frame order."""
    files = sorted(run.glob("motion*.npz"))
    return np.concatenate([np.load(f, allow_pickle=False)["positions"] for f in files])


def _relative_change(a: dict, b: dict) -> tuple[float, str]:
    """The largest relative change of the :data:`STABLE` figures between two plausibility records, and which."""
    worst, which = 0.0, ""
    for k, floor in STABLE.items():
        if a.get(k) is None or b.get(k) is None:
            continue
        change = abs(a[k] - b[k]) / max(abs(a[k]), floor)
        if change > worst:
            worst, which = change, k
    return worst, which


def clip_row(name: str, video: Path, calibration: Path | None, quick: bool, work: Path) -> dict:
    """The row of one real clip (see the module docstring); its two runs go under ``work``."""
    config = PipelineConfig(end=1.0 if quick else None, calibration=None if calibration is None else str(calibration),
                            overlay=False)
    report = run_pipeline(work / "run", config, video=video)
    phys, kin = report["plausibility"]["physics"], report["plausibility"]["kinematic"]
    windows = report["windows"]
    seams = [s["seam_jump"]["ratio"] for s in report["segments"] if np.isfinite(s["seam_jump"]["ratio"])]
    row = {"clip": name, "frames": report["coverage"]["frames_reconstructed"],
           "residual_n": phys["residual_force_n"], "residual_p95_n": phys["residual_force_p95_n"],
           "residual_share": phys["residual_share"], "residual_p95_share": phys["residual_p95_share"],
           "floating_mm_kin": kin["floating_mm"], "floating_mm": phys["floating_mm"],
           "skating_kin": kin["foot_skating"], "skating": phys["foot_skating"],
           "penetration_mm_kin": kin["penetration_mm"], "penetration_mm": phys["penetration_mm"],
           "reproj_px_kin": kin["reprojection_px"], "reproj_px": phys["reprojection_px"],
           "windows": len(windows), **window_count_fields(w["status"] for w in windows),
           "seam_ratio": max(seams) if seams else None,
           "wall_s": report["timings_s"]["total"], "compute_s_per_video_s": report["compute_s_per_video_s"]}
    if not quick:
        keypoints = _perturbed_keypoints(work / "run" / "cache", work / "perturbed.npz")
        again = run_pipeline(work / "perturbed", config, video=video, keypoints=keypoints)
        change, which = _relative_change(phys, again["plausibility"]["physics"])
        a, b = _positions(work / "run"), _positions(work / "perturbed")
        row |= {"perturbed_max_change": change, "perturbed_max_change_of": which,
                "perturbed_joint_shift_mm": 1000 * float(np.linalg.norm(a - b, axis=-1).mean())
                if a.shape == b.shape else None}
    return row


def mocap_row(root: Path, quick: bool, work: Path, split: str = "test") -> dict:
    """The row of a mocap split: physics beside its reference, the kinematic estimate and the truth."""
    from phymo.app.evaluation import EvalConfig, run_evaluation

    cfg = EvalConfig(dataset="mocap", root=str(root), split=split, max_frames=30 if quick else 90,
                     max_sequences=1 if quick else 4)
    summary = run_evaluation(cfg, work / f"mocap-{split}")
    phys, kin, gt = summary["physics"], summary["kinematic"], summary.get("ground_truth", {})
    return {"clip": f"mocap {split} split ({summary['count']['ok']} sequences)", "frames": cfg.max_frames,
            "mpjpe_kin": kin["mpjpe"], "mpjpe_reference": phys["reference_mpjpe"], "mpjpe": phys["mpjpe"],
            "residual_n": phys["residual_force_n"], "residual_p95_n": phys["residual_force_p95_n"],
            "residual_share": phys["residual_share"], "floating_mm_kin": kin["floating_mm"],
            "floating_mm": phys["floating_mm"], "skating_kin": kin["foot_skating"], "skating": phys["foot_skating"],
            "skating_truth": gt.get("foot_skating"), "penetration_mm_kin": kin["penetration_mm"],
            "penetration_mm": phys["penetration_mm"], "reproj_px_kin": kin["mpjpe_2d"], "reproj_px": phys["mpjpe_2d"],
            **{k: phys[k] for k in window_count_fields(())}, "wall_s": phys["wall_s"]}


def run(quick: bool = False, data_dir: str | Path | None = None) -> list[dict]:
    """Rows for the available real clips and the mocap test split; ``quick``: 1 s of each clip, one 30-frame
    mocap sequence and no perturbed rerun."""
    rows = []
    with tempfile.TemporaryDirectory(prefix="phymo-bench-plausibility-") as tmp:
        for k, (name, video, calibration) in enumerate(available_clips(data_dir)):
            rows.append(clip_row(name, video, calibration, quick, Path(tmp) / f"clip{k}"))
            log.info("%s", json.dumps(rows[-1]))
        root = Path(data_dir) if data_dir is not None else data_root()
        if root.is_dir():
            rows.append(mocap_row(root, quick, Path(tmp)))
    return rows
