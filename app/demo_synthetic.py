"""The built-in demo input: a synthesized walk, filmed by a virtual camera, with detector-like keypoints.

No user data and no network: the walk comes from :func:`phymo.data.gait.walking_motion`, the
"video" shows that body drawn as grey capsules (so the overlay can be checked against it), and the
keypoints are what MediaPipe would give, in its 33-point layout: the walk's projection with
detector-like noise, outliers and dropouts, and 3D world landmarks from a noisy copy of the pose
(:mod:`phymo.data.synthetic`). The demo then runs the same pipeline as ``phymo reconstruct VIDEO
--keypoints FILE``; only the detector is skipped (it would not find a person in a line drawing).
Because the truth is known, :func:`truth_errors` scores the results against it.

The camera films the walk from the side, where 2D keypoints alone leave the body's facing direction
ambiguous: without the world landmarks the kinematic fit turns the torso by up to 80 degrees and its
PA-MPJPE triples (docs/results.md).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from phymo.data import CANONICAL, Camera, Motion
from phymo.data.export import atomic_target, atomic_write_json
from phymo.data.gait import walking_motion
from phymo.data.metrics import pa_mpjpe
from phymo.data.skeleton import MEDIAPIPE_33
from phymo.data.synthetic import SyntheticConfig, synthesize_observations, world_landmarks

from .overlay import blank_frames, draw_frame

INPUT_COLOR = (150, 150, 150)
DEMO_FPS = 30.0
#: the pipeline's smoothness and jitter measures need 3 frames
MIN_FRAMES = 3


def demo_scene(duration_s: float = 3.0, fps: float = DEMO_FPS) -> tuple[Motion, Camera]:
    """The walk and a camera filming it from the side at chest height, 960x540 px, 55 degree field of view."""
    motion = walking_motion(duration_s=duration_s, fps=fps)
    mid = 0.5 * (motion.root_translation[0] + motion.root_translation[-1])
    camera = Camera.from_fov(960, 540, 55.0).looking_at(eye=(mid[0] - 1.0, -6.0, 1.4), target=(mid[0], 0.0, 0.9))
    return motion, camera


def write_demo_input(folder: Path, duration_s: float = 3.0, fps: float = DEMO_FPS, seed: int = 0) -> tuple[Path, Path]:
    """Write ``input.mp4`` and ``keypoints.npz`` (phymo's keypoint format) into ``folder``."""
    from phymo.pose import Keypoints2D

    folder.mkdir(parents=True, exist_ok=True)
    motion, camera = demo_scene(duration_s, fps)
    obs = synthesize_observations(motion, camera, SyntheticConfig(noise_px=1.5), seed=seed)
    points = np.nan_to_num(MEDIAPIPE_33.from_canonical(obs.keypoints_2d))
    conf = np.nan_to_num(MEDIAPIPE_33.from_canonical(obs.confidence[..., None])[..., 0])
    world = np.nan_to_num(MEDIAPIPE_33.from_canonical(world_landmarks(obs.kinematic, camera))) * (conf[..., None] > 0)
    kp = Keypoints2D(points, conf, MEDIAPIPE_33.name, fps, camera.width, camera.height, world=world,
                     meta={"source": "phymo demo (synthesized walk)", "seed": seed})
    video = folder / "input.mp4"
    positions = motion.positions()
    with atomic_target(video) as tmp:
        writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*"mp4v"), fps, (camera.width, camera.height))
        for t, frame in enumerate(blank_frames(camera, motion.num_frames, shade=30)):
            writer.write(draw_frame(frame, positions[t], camera, CANONICAL, bone_radius_m=0.06,
                                    bone_color=INPUT_COLOR, ground_grid=False))
        writer.release()
    return video, kp.save(folder / "keypoints.npz")


def truth_errors(out: Path, duration_s: float = 3.0, fps: float = DEMO_FPS) -> dict:
    """PA-MPJPE (mm) of the run's kinematic and physics motions against the synthesized walk, and the
    walk's own foot skating (the floor of the plausibility figure); written to ``out/truth.json``."""
    from .pipeline import plausibility

    truth, _ = demo_scene(duration_s, fps)
    scores = {"truth_foot_skating": plausibility(truth)[0]["foot_skating"]}
    for stem in ("kinematic", "motion"):
        with np.load(out / f"{stem}.npz", allow_pickle=False) as z:
            positions, frames, names = z["positions"], z["frame_index"], [str(n) for n in z["joint_names"]]
        gt = truth.positions()[frames][:, [truth.skeleton.index(n) for n in names]]
        scores[f"{stem}_pa_mpjpe_mm"] = 1000 * pa_mpjpe(positions, gt)
    atomic_write_json(out / "truth.json", scores)
    return scores
