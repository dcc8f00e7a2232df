import numpy as np
import pytest

from phymo.data import CANONICAL, MEDIAPIPE_33, Motion
from phymo.data.rotations import axis_angle_to_quat, quat_conj, quat_mul, quat_to_axis_angle
from phymo.data.synthetic import SyntheticConfig, random_camera, synthesize_observations

CLEAN = SyntheticConfig(noise_px=0.0, outlier_rate=0.0, dropout_rate=0.0, rotation_noise_rad=0.0, root_noise_m=0.0)


def _walk(t=120, fps=30.0) -> Motion:
    time = np.arange(t) / fps
    rotvec = np.zeros((t, CANONICAL.num_joints, 3))
    phase = 2 * np.pi * time
    for side, sign in (("left", 1.0), ("right", -1.0)):
        rotvec[:, CANONICAL.index(f"{side}_hip"), 1] = 0.4 * sign * np.sin(phase)
        rotvec[:, CANONICAL.index(f"{side}_knee"), 1] = 0.5 * (1 + np.sin(phase + sign))
        rotvec[:, CANONICAL.index(f"{side}_shoulder"), 0] = sign * 1.2
    root = np.stack([1.2 * time, 0.1 * np.sin(phase), np.full(t, 0.97)], axis=1)
    return Motion(CANONICAL, fps, root, axis_angle_to_quat(rotvec))


def _observed():
    return np.array([CANONICAL.index(n) for n, _ in MEDIAPIPE_33.pairs])


def test_same_seed_same_output_and_other_seed_differs():
    motion = _walk()
    a, b = synthesize_observations(motion, seed=3), synthesize_observations(motion, seed=3)
    np.testing.assert_array_equal(a.keypoints_2d, b.keypoints_2d)
    np.testing.assert_array_equal(a.confidence, b.confidence)
    np.testing.assert_array_equal(a.kinematic.rotations, b.kinematic.rotations)
    np.testing.assert_array_equal(a.camera.R, b.camera.R)
    c = synthesize_observations(motion, seed=4)
    assert not np.allclose(a.keypoints_2d, c.keypoints_2d)


def test_zero_noise_reprojects_exactly_and_only_detector_joints_are_observed():
    motion = _walk()
    obs = synthesize_observations(motion, config=CLEAN, seed=1)
    observed = _observed()
    proj = obs.camera.project(motion.positions())
    np.testing.assert_allclose(obs.keypoints_2d[:, observed], proj[:, observed], atol=1e-9)
    np.testing.assert_array_equal(obs.confidence[:, observed], 1.0)
    others = np.setdiff1d(np.arange(CANONICAL.num_joints), observed)
    assert CANONICAL.index("pelvis") in others and CANONICAL.index("spine") in others
    np.testing.assert_array_equal(obs.confidence[:, others], 0.0)
    np.testing.assert_array_equal(obs.keypoints_2d[:, others], 0.0)
    np.testing.assert_allclose(obs.kinematic_positions(), motion.positions(), atol=1e-12)
    assert obs.fps == motion.fps and obs.meta["seed"] == 1


def test_given_camera_is_used():
    motion = _walk()
    cam = random_camera(motion, np.random.default_rng(9))
    obs = synthesize_observations(motion, camera=cam, config=CLEAN)
    assert obs.camera is cam


@pytest.mark.parametrize("seed", range(5))
def test_random_camera_frames_the_whole_motion(seed):
    motion = _walk()
    cam = random_camera(motion, np.random.default_rng(seed), width=1280, height=720)
    uv = cam.project(motion.positions())
    depth = cam.to_camera(motion.positions())[..., 2]
    assert (depth > 0.5).all()
    assert (uv[..., 0] >= 0).all() and (uv[..., 0] < 1280).all()
    assert (uv[..., 1] >= 0).all() and (uv[..., 1] < 720).all()
    body_px = uv[..., 1].max(axis=1) - uv[..., 1].min(axis=1)
    assert body_px.mean() > 0.25 * 720  # the person is not a speck
    assert 0.8 <= cam.center[2] <= 1.8


def test_2d_noise_statistics():
    motion = _walk(t=300)
    noise = 3.0
    cfg = SyntheticConfig(noise_px=noise, noise_spread=0.0, outlier_rate=0.0, dropout_rate=0.0)
    obs = synthesize_observations(motion, config=cfg, seed=0)
    observed = _observed()
    err = np.linalg.norm(obs.keypoints_2d[:, observed] - obs.camera.project(motion.positions())[:, observed], axis=-1)
    # the norm of a 2D isotropic Gaussian is Rayleigh: median sigma * sqrt(2 ln 2)
    assert np.median(err) == pytest.approx(noise * np.sqrt(2 * np.log(2)), rel=0.05)
    np.testing.assert_allclose(obs.confidence[:, observed], 1 / (1 + (noise / cfg.confidence_scale_px) ** 2))


def test_noisier_keypoints_get_lower_confidence():
    motion = _walk(t=200)
    cfg = SyntheticConfig(noise_px=4.0, noise_spread=1.0, outlier_rate=0.0, dropout_rate=0.0)
    obs = synthesize_observations(motion, config=cfg, seed=2)
    observed = _observed()
    err = np.linalg.norm(obs.keypoints_2d[:, observed] - obs.camera.project(motion.positions())[:, observed], axis=-1)
    conf = obs.confidence[:, observed]
    assert np.corrcoef(err.ravel(), conf.ravel())[0, 1] < -0.3
    assert conf.min() > 0 and conf.max() <= 1


def test_dropout_and_outlier_rates():
    motion = _walk(t=300)
    cfg = SyntheticConfig(noise_px=1.0, noise_spread=0.0, outlier_rate=0.1, outlier_px=100.0, dropout_rate=0.2)
    obs = synthesize_observations(motion, config=cfg, seed=5)
    observed = _observed()
    dropped = obs.confidence[:, observed] == 0
    assert dropped.mean() == pytest.approx(0.2, abs=0.03)
    assert (obs.keypoints_2d[:, observed][dropped] == 0).all()
    outliers = np.array(obs.meta["outliers"])
    assert len(outliers) / dropped.size == pytest.approx(0.1 * 0.8, abs=0.02)
    err = np.linalg.norm(obs.keypoints_2d - obs.camera.project(motion.positions()), axis=-1)
    assert (err[outliers[:, 0], outliers[:, 1]] > 40).all()
    conf = obs.confidence[outliers[:, 0], outliers[:, 1]]
    assert (conf >= 0.2).all() and (conf <= 0.7).all()


def test_kinematic_noise_magnitude_and_smoothness():
    motion = _walk(t=300)
    cfg = SyntheticConfig(rotation_noise_rad=0.05, root_noise_m=0.03, noise_timescale_s=0.1)
    kin = synthesize_observations(motion, config=cfg, seed=7).kinematic
    assert kin.skeleton is motion.skeleton
    rot_err = quat_to_axis_angle(quat_mul(quat_conj(motion.rotations), kin.rotations))
    assert rot_err.std() == pytest.approx(0.05, rel=0.2)
    root_err = kin.root_translation - motion.root_translation
    assert root_err.std() == pytest.approx(0.03, rel=0.3)
    # temporally correlated: consecutive frames' errors nearly equal (white noise would give ~0)
    lag1 = np.corrcoef(rot_err[1:].ravel(), rot_err[:-1].ravel())[0, 1]
    assert lag1 > 0.9


def test_bad_config_values_raise():
    with pytest.raises(ValueError, match="noise_px"):
        SyntheticConfig(noise_px=-1.0)
    with pytest.raises(ValueError, match="dropout_rate"):
        SyntheticConfig(dropout_rate=1.5)
    with pytest.raises(ValueError, match="observed joints"):
        synthesize_observations(_walk(t=3), config=SyntheticConfig(observed_joints=("nope",)))
