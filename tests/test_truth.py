"""Scoring a finished run against a truth seen by a known camera: frames, roots and alignments (tiny runs made here)."""

import json

import numpy as np
import pytest

from phymo.app.evaluation.truth import ALIGN_FRAMES, Truth, in_run_world, run_sample, truth_errors
from phymo.data import CANONICAL, Camera, Motion, axis_angle_to_quat, motion_arrays, quat_mul, save_npz, walking_motion

#: the truth's world: a camera 4 m away on -Y, 1.2 m up, looking at the walk
TRUTH_CAM = Camera.from_fov(640, 480, 60.0).looking_at(eye=(0.5, -4.0, 1.2), target=(0.5, 0.0, 0.9))


def _turned(motion: Motion, yaw: float, shift) -> Motion:
    """The same motion in another world frame: turned about Z by ``yaw``, shifted by ``shift``."""
    c, s = np.cos(yaw), np.sin(yaw)
    rz = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
    q = quat_mul(np.broadcast_to(axis_angle_to_quat(np.array([0.0, 0.0, yaw])), motion.rotations[:, 0].shape),
                 motion.rotations[:, 0])
    rot = motion.rotations.copy()
    rot[:, 0] = q
    return Motion(motion.skeleton, motion.fps, motion.root_translation @ rz.T + shift, rot), rz


def _run(folder, truth_motion: Motion, offset_cam=(0.0, 0.0, 0.0), first_frame: int = 0):
    """A finished run in ``folder`` whose world is the truth's turned by 0.7 rad and shifted: its motion is the
    truth (moved by ``offset_cam`` metres along the camera axes), its camera the truth's camera in that world."""
    run_motion, rz = _turned(truth_motion, 0.7, np.array([3.0, -1.0, 0.0]))
    camera = Camera(TRUTH_CAM.fx, TRUTH_CAM.fy, TRUTH_CAM.cx, TRUTH_CAM.cy, 640, 480, TRUTH_CAM.R @ rz.T,
                    TRUTH_CAM.t - TRUTH_CAM.R @ rz.T @ np.array([3.0, -1.0, 0.0]))
    shifted = Motion(run_motion.skeleton, run_motion.fps,
                     run_motion.root_translation + camera.R.T @ np.asarray(offset_cam), run_motion.rotations)
    t = shifted.num_frames
    extras = {"keypoints_2d": camera.project(shifted.positions()), "keypoint_confidence": np.ones((t, 22))}
    for stem in ("kinematic", "motion"):
        more = {"residual_force": np.full(t, 5.0)} if stem == "motion" else {}
        save_npz(folder / f"{stem}.npz", motion_arrays(shifted, camera, {**extras, **more},
                                                              frame_index=first_frame + np.arange(t)))
    zero = {"foot_skating": 0.0, "floating_mm": 0.0, "penetration_mm": 0.0}
    (folder / "report.json").write_text(json.dumps({
        "timings_s": {"physics": 1.0}, "plausibility": {"kinematic": zero, "physics": zero},
        "windows": [{"steps": 3, "evaluations": 3, "status": "optimized"}]}))
    return camera


def test_the_truth_in_its_own_world_scores_zero_in_the_runs(tmp_path):
    walk = walking_motion(1.0, 30.0)
    camera = _run(tmp_path, walk)
    np.testing.assert_allclose(in_run_world(walk.positions(), TRUTH_CAM, camera), _turned(walk, 0.7, [3, -1, 0])[0]
                               .positions(), atol=1e-9)
    truth = Truth(walk.positions(), TRUTH_CAM, tuple(range(22)), False, "the walk")
    errors = truth_errors(run_sample(tmp_path, truth))
    assert set(errors) == {"kinematic", "physics"} and set(errors["physics"]) == {"mpjpe", "pa_mpjpe", "mpjpe_g"}
    assert max(errors["kinematic"].values()) < 1e-6 and max(errors["physics"].values()) < 1e-6


def test_a_body_placed_too_far_costs_only_the_camera_frame_error(tmp_path):
    """20 cm too far along the optical axis: root-aligned, Procrustes and first-frames-aligned errors are zero,
    the unaligned camera-frame error is the 200 mm."""
    from phymo.app.evaluation import score

    walk = walking_motion(1.0, 30.0)
    _run(tmp_path, walk, offset_cam=(0.0, 0.0, 0.2))
    sample = run_sample(tmp_path, Truth(walk.positions(), TRUTH_CAM, tuple(range(22)), False, "the walk"))
    assert sample.align_frames == ALIGN_FRAMES
    values, _ = score(sample.physics, sample, {})
    assert values["mpjpe"] < 1e-6 and values["pa_mpjpe"] < 1e-6 and values["mpjpe_g"] < 1e-6
    assert values["mpjpe_cam"] == pytest.approx(200.0, abs=1e-6)
    assert sample.physics_extras == {"wall_s": 1.0, "steps": 3, "evaluations": 3, "optimized_windows": 1,
                                     "resolved_windows": 0, "assisted_windows": 0, "fell_back_windows": 0}
    assert set(sample.plausibility) == {"kinematic", "physics"}  # the run's report.json's


def test_markers_without_a_pelvis_and_frames_the_truth_lacks(tmp_path):
    """Markers have hips, not a pelvis: both roots become the hips' midpoint, so the canonical pelvis (6.5 cm
    above the hips) costs nothing; the run starts at video frame 5 and runs past the truth's last row;
    a joint missing in one frame is left out."""
    walk = walking_motion(1.0, 30.0)
    _run(tmp_path, walk.slice(5, 30), first_frame=5)
    markers = walk.positions()[:20].copy()  # rows 0..19 = video frames 0..19
    markers[:, 0] = markers[:, [CANONICAL.index("left_hip"), CANONICAL.index("right_hip")]].mean(axis=1)
    markers[7, CANONICAL.index("left_wrist")] = np.nan
    joints = (0, CANONICAL.index("left_knee"), CANONICAL.index("left_wrist"), CANONICAL.index("right_ankle"))
    sample = run_sample(tmp_path, Truth(markers, TRUTH_CAM, joints, True, "markers"))
    assert sample.obs.num_frames == 15 and sample.obs.meta["frame_indices"] == list(range(5, 20))
    assert sample.joints == [0, CANONICAL.index("left_knee"), CANONICAL.index("right_ankle")]
    assert max(truth_errors(sample)["physics"].values()) < 1e-6
    truth = Truth(markers, TRUTH_CAM, joints, False, "markers")  # the pelvis taken as it is: 6.5 cm off
    assert truth_errors(run_sample(tmp_path, truth))["physics"]["mpjpe"] > 20.0
    with pytest.raises(Exception, match="none of the run's"):
        run_sample(tmp_path, Truth(markers[:3], TRUTH_CAM, joints, True, "markers"))
