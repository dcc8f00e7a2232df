"""The synthetic demo input: a walk on a circle, filmed by a virtual camera, with detector-like keypoints.

No user data and no network: the walk comes from :func:`phymo.data.gait.walking_motion` (on a circle
of :data:`TURN_RADIUS_M`, so a walk of any length stays in the picture), the "video" shows that body
drawn as grey capsules (so the overlay can be checked against it), and the keypoints are what
MediaPipe would give, in its 33-point layout: the walk's projection with detector-like noise, outliers
and dropouts, and 3D world landmarks from a noisy copy of the pose (:mod:`phymo.data.synthetic`). The
pipeline then runs as ``phymo reconstruct VIDEO --keypoints FILE``; only the detector is skipped (it
would not find a person in a line drawing). :func:`walk_truth` is the truth it is scored against.

The walk starts on the circle's near side, going across the picture: there the camera sees it from
the side, where 2D keypoints alone leave the body's facing direction ambiguous (without the world
landmarks the kinematic fit turns the torso by up to 80 degrees and its PA-MPJPE triples,
docs/results.md). Further on it walks away from the camera and back towards it.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from phymo.app.evaluation.truth import Truth
from phymo.app.render.overlay import blank_frames, draw_frame
from phymo.data import (
    CANONICAL,
    MEDIAPIPE_33,
    Camera,
    Motion,
    SyntheticConfig,
    atomic_target,
    synthesize_observations,
    walking_motion,
    world_landmarks,
)

INPUT_COLOR = (150, 150, 150)
DEMO_FPS = 30.0
#: the pipeline's smoothness and jitter measures need 3 frames
MIN_FRAMES = 3
#: radius of the circle the walk follows, metres
TURN_RADIUS_M = 2.5
#: the camera's distance from the circle's centre and its height, metres: the whole circle, feet to head,
#: fits a 960x540 picture with a 55 degree field of view
CAMERA_DISTANCE_M, CAMERA_HEIGHT_M = 8.0, 1.0


def demo_scene(duration_s: float = 3.0, fps: float = DEMO_FPS) -> tuple[Motion, Camera]:
    """The walk and the camera filming it: 960x540 px, 55 degree field of view, looking at the circle's
    centre from the side the walk starts on."""
    motion = walking_motion(duration_s=duration_s, fps=fps, turn_radius_m=TURN_RADIUS_M)
    camera = Camera.from_fov(960, 540, 55.0).looking_at(
        eye=(0.0, TURN_RADIUS_M - CAMERA_DISTANCE_M, CAMERA_HEIGHT_M), target=(0.0, TURN_RADIUS_M, 0.9))
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
                     meta={"source": "phymo demo --synthetic (synthesized walk)", "seed": seed})
    video = folder / "input.mp4"
    positions = motion.positions()
    with atomic_target(video) as tmp:
        writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*"mp4v"), fps, (camera.width, camera.height))
        for t, frame in enumerate(blank_frames(camera, motion.num_frames, shade=30)):
            writer.write(draw_frame(frame, positions[t], camera, CANONICAL, bone_radius_m=0.06,
                                    bone_color=INPUT_COLOR, ground_grid=False))
        writer.release()
    return video, kp.save(folder / "keypoints.npz")


def walk_truth(duration_s: float = 3.0, fps: float = DEMO_FPS) -> Truth:
    """The synthesized walk as the truth of the demo camera's view (all 22 joints, pelvis the root)."""
    motion, camera = demo_scene(duration_s, fps)
    return Truth(motion.positions(), camera, tuple(range(CANONICAL.num_joints)), False,
                 f"the synthesized walk (phymo.data.gait.walking_motion, {duration_s:g} s on a "
                 f"{TURN_RADIUS_M:g} m circle)")
