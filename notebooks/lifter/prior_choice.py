"""How the kinematic fit scores with each 3D prior and setting: the choice of the default, on validation data.

    python notebooks/lifter/prior_choice.py --mocap validation --sequences 4 prior=lifter prior=lifter,sigma_3d_m=0.08
    python notebooks/lifter/prior_choice.py --cam01 prior=mediapipe prior=lifter prior=fused

Each argument is a :class:`phymo.pose.FitConfig` (``name=value`` pairs, comma-separated; ``default``: as shipped).
``--mocap SPLIT``: the kinematic estimate of ``phymo evaluate --dataset mocap --max-frames 90`` (the product's fit on
its synthetic keypoints, :func:`phymo.app.evaluation.datasets.fitted_kinematic`), mean over the first
``--sequences`` sequences, with each sequence's MPJPE. ``--cam01``: the demo clip's MediaPipe keypoints (detected
once, cached in ``/tmp``) fitted as ``phymo reconstruct`` fits them, scored against the triangulated markers as
``truth.json`` scores them. Millimetres. Only the kinematic stage runs: no physics.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

CACHE = Path("/tmp/phymo_lifter_notebook/cam01_mediapipe.npz")


def fit_config(spec: str):
    from phymo.pose import FitConfig

    if spec == "default":
        return FitConfig()
    values = dict(item.split("=") for item in spec.split(","))
    typed = {k: v if k == "prior" else (v == "True" if v in ("True", "False") else float(v)) for k, v in values.items()}
    return FitConfig(**typed)


def mocap(split: str, sequences: int, specs: list[str]) -> None:
    import phymo.pose as pose
    from phymo.app.evaluation import datasets
    from phymo.app.evaluation.run import score
    from phymo.app.evaluation.types import EvalConfig

    cfg = EvalConfig(dataset="mocap", root="../shared/data", split=split, max_frames=90, max_sequences=sequences)
    product = sys.modules["phymo.pose.initialize"].initialize
    for spec in specs:
        chosen = fit_config(spec)
        pose.initialize = lambda kp, cam, fit_config=None, chosen=chosen, **kw: product(kp, cam, chosen, **kw)
        rows = []
        for seq in datasets.list_sequences(cfg):
            sample = datasets.dataset(cfg).load(seq, cfg, None)
            values, _ = score(sample.obs.kinematic_positions(), sample, {})
            rows.append((values["mpjpe"], values["pa_mpjpe"], values["mpjpe_g"]))
        mean = np.mean(rows, axis=0)
        print(f"mocap {split:10s} {spec:40s} MPJPE {mean[0]:6.1f}  PA {mean[1]:6.1f}  global {mean[2]:6.1f}  "
              f"per sequence MPJPE {[round(r[0], 1) for r in rows]}", flush=True)
    pose.initialize = product


def cam01(specs: list[str]) -> None:
    from phymo.app.demo.run import DEMO_CLIP
    from phymo.app.evaluation.multiview import find_trial, marker_truth
    from phymo.app.evaluation.run import score
    from phymo.app.evaluation.truth import ALIGN_FRAMES, in_run_world
    from phymo.app.evaluation.types import Sample
    from phymo.pose import detect_video, initialize, load_keypoints, resolve_camera

    trial = find_trial(DEMO_CLIP)
    if not CACHE.exists():
        CACHE.parent.mkdir(parents=True, exist_ok=True)
        detect_video(trial.videos["cam01"]).save(CACHE)
    kp = load_keypoints(CACHE)
    truth = marker_truth(trial.markers, trial.calibration, "cam01", kp.width, kp.height)
    camera, _ = resolve_camera(kp.width, kp.height)
    gt = truth.positions[kp.frame_indices]
    joints = [j for j in truth.joints if np.isfinite(gt[:, j]).all()]
    for spec in specs:
        fit = initialize(kp, camera, fit_config(spec))
        sample = Sample(fit.observations, in_run_world(gt, truth.camera, fit.camera), joints,
                        pelvis_from_hips=truth.pelvis_from_hips, align_frames=ALIGN_FRAMES, gt_on_ground=False)
        values, _ = score(fit.observations.kinematic_positions(), sample, {})
        print(f"cam01 {spec:40s} MPJPE {values['mpjpe']:6.1f}  PA {values['pa_mpjpe']:6.1f}  "
              f"global {values['mpjpe_g']:6.1f}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("specs", nargs="+")
    parser.add_argument("--mocap", metavar="SPLIT")
    parser.add_argument("--sequences", type=int, default=4)
    parser.add_argument("--cam01", action="store_true")
    args = parser.parse_args()
    if args.cam01:
        cam01(args.specs)
    if args.mocap:
        mocap(args.mocap, args.sequences, args.specs)


if __name__ == "__main__":
    main()
