"""Kinematic fit: recovers a known motion from its own synthetic observations; helpers against oracles."""

import numpy as np

from phymo.data import (
    CANONICAL,
    Motion,
    SyntheticConfig,
    axis_angle_to_quat,
    joint_ranges,
    synthesize_observations,
    world_landmarks,
)
from phymo.pose.kinematic_fit import FitConfig, fit_kinematic

S = CANONICAL


def walking(frames=60, fps=30.0) -> Motion:
    """A procedural walk inside the joint limits: 1 m/s along +X, swinging legs and arms, turning hips."""
    t = np.arange(frames) / fps
    ph = 2 * np.pi * t
    rv = np.zeros((frames, S.num_joints, 3))
    rv[:, 0, 2] = 0.3 * np.sin(0.5 * ph)
    for side, sg in (("left", 1), ("right", -1)):
        rv[:, S.index(f"{side}_hip"), 1] = -0.5 * sg * np.sin(ph)
        rv[:, S.index(f"{side}_knee"), 1] = 0.6 + 0.5 * np.sin(ph + sg)
        rv[:, S.index(f"{side}_shoulder"), 0] = -sg * 1.2
        rv[:, S.index(f"{side}_shoulder"), 2] = 0.3 * sg * np.sin(ph)
        rv[:, S.index(f"{side}_elbow"), 2] = -sg * 0.6
    rv[:, S.index("spine"), 1] = 0.1
    lim = joint_ranges(S)
    assert ((rv[:, 1:] >= lim[1:, :, 0]) & (rv[:, 1:] <= lim[1:, :, 1])).all()
    root = np.stack([t, 0.1 * np.sin(ph), 0.93 + 0.02 * np.cos(2 * ph)], 1)
    return Motion(S, fps, root, axis_angle_to_quat(rv))


def test_fit_recovers_known_motion_within_15mm():
    motion = walking()
    config = SyntheticConfig(noise_px=0.5, noise_spread=0.0, outlier_rate=0.0, dropout_rate=0.0,
                             rotation_noise_rad=0.0, root_noise_m=0.0)
    obs = synthesize_observations(motion, config=config, seed=3)
    truth_cam = obs.camera.to_camera(motion.positions())
    world = world_landmarks(motion, obs.camera) * (obs.confidence[..., None] > 0)  # only the observed joints
    result = fit_kinematic(obs.keypoints_2d, obs.confidence, obs.camera, obs.fps, world=world)

    fit_cam = result.camera.to_camera(result.motion.positions())
    aligned = np.linalg.norm((fit_cam - fit_cam[:, :1]) - (truth_cam - truth_cam[:, :1]), axis=-1)
    assert 1000 * aligned.mean() < 15.0  # MPJPE, root-aligned, all 22 joints
    assert 1000 * np.linalg.norm(fit_cam - truth_cam, axis=-1).mean() < 30.0  # global, camera frame
    assert result.reproj_px < 2.0
    # world frame: Z up and the ground where the true one is: the true walk, moved into the fit's world
    # through the two cameras, stands with its lowest foot point where it does in its own world (median over
    # frames) within 3 cm (measured: 2.0 cm)
    up_cam = result.camera.R @ np.array([0.0, 0.0, 1.0])
    true_up = obs.camera.R @ np.array([0.0, 0.0, 1.0])
    assert np.degrees(np.arccos(np.clip(up_cam @ true_up, -1, 1))) < 5.0
    truth_in_fit = (truth_cam - result.camera.t) @ result.camera.R
    feet = [S.index(n) for n in ("left_ankle", "left_toe", "right_ankle", "right_toe")]
    rest = S.rest_positions()[feet, 2]
    sole = (truth_in_fit[:, feet, 2] - (rest - rest.min())).min(axis=1)
    truth_sole = (motion.positions()[:, feet, 2] - (rest - rest.min())).min(axis=1)  # the truth's own, ~2 cm
    assert abs(np.median(sole) - np.median(truth_sole)) < 0.03
    assert result.observations.kinematic is result.motion and result.observations.camera is result.camera


def test_fit_from_2d_only_with_height_is_sane():
    motion = walking(30)
    obs = synthesize_observations(motion, config=SyntheticConfig(noise_px=1.0, outlier_rate=0.0), seed=1)
    result = fit_kinematic(obs.keypoints_2d, obs.confidence, obs.camera, obs.fps, world=None,
                           config=FitConfig(height=S.height()))
    assert result.reproj_px < 5.0
    assert result.motion.positions()[:, S.index("head_top"), 2].mean() > 1.3
