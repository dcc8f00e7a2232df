"""How close the kinematic fit can come to a mocap clip when its 3D prior is perfect: the floor under any lifter.

    python notebooks/lifter/fit_floor.py [--sequences 2]

For the first validation sequences of ``phymo evaluate --dataset mocap --max-frames 90`` (same seeds, cameras and
synthetic keypoints), the fit runs with the truth itself as its prior (hip-centred, camera axes, every joint
weighted), with the assumed height and with the truth's, then with the shipped lifter's prior; MPJPE and
PA-MPJPE in the camera frame, millimetres. The fit's skeleton has the canonical proportions; the mocap's differ
(the ratio of each bone to the canonical one is printed), which no prior can make up for.
"""

from __future__ import annotations

import argparse

import numpy as np


def main() -> None:
    from phymo.app.evaluation.datasets import list_sequences
    from phymo.app.evaluation.types import EvalConfig, sequence_seed
    from phymo.data import CANONICAL, Camera, hip_centred, load_bvh_motion, metrics, synthesize_observations
    from phymo.pose import FitConfig, fit_kinematic
    from phymo.pose.lifter import shipped_lifter

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sequences", type=int, default=2)
    args = parser.parse_args()
    cfg = EvalConfig(dataset="mocap", root="../shared/data", split="validation", max_frames=90)
    for spec in list_sequences(cfg)[: args.sequences]:
        motion = load_bvh_motion(spec.source[0]).resample(cfg.fps).slice(0, cfg.max_frames)
        obs = synthesize_observations(motion, None, cfg.synthetic, sequence_seed(cfg.seed, spec.id))
        cam = obs.camera
        intrinsics = Camera(cam.fx, cam.fy, cam.cx, cam.cy, cam.width, cam.height)
        truth = cam.to_camera(motion.positions())
        lifted = shipped_lifter().lift(obs.keypoints_2d, obs.confidence, cam, obs.fps)
        ratio = np.linalg.norm(motion.skeleton.offsets, axis=1)[1:] / np.linalg.norm(CANONICAL.offsets, axis=1)[1:]
        print(f"{spec.id}: height {motion.skeleton.height():.2f} m, bone / canonical bone {np.round(ratio, 2)}")
        for name, prior, height in (("truth as prior, assumed height", hip_centred(truth), None),
                                    ("truth as prior, true height", hip_centred(truth), motion.skeleton.height()),
                                    ("lifter, assumed height", lifted, None),
                                    ("lifter, true height", lifted, motion.skeleton.height())):
            fit = fit_kinematic(obs.keypoints_2d, obs.confidence, intrinsics, obs.fps, prior, FitConfig(height=height),
                                world_weight=np.ones(prior.shape[:2]))
            pred = fit.camera.to_camera(fit.motion.positions())
            print(f"  {name:32s} MPJPE {1000 * metrics.mpjpe(pred, truth):6.1f}  "
                  f"PA {1000 * metrics.pa_mpjpe(pred, truth):6.1f}", flush=True)


if __name__ == "__main__":
    main()
