"""Synthetic observations from a known motion: random cameras, noisy 2D keypoints, a noisy 3D estimate.

Used to build ground-truth-known test and training problems from motion capture: project the motion
through a camera, corrupt the 2D keypoints the way a detector would (Gaussian jitter, outliers,
dropouts, confidences that fall as noise grows) and corrupt the 3D motion the way a kinematic
estimator would (temporally correlated joint-rotation and root-translation errors); a detector's 3D
landmarks are the joints of such an estimate, hip-centred in camera axes (:func:`world_landmarks`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy.ndimage import gaussian_filter1d

from .camera import Camera
from .motion import Motion
from .observations import Observations
from .rotations import axis_angle_to_quat, quat_mul, quat_normalize
from .skeleton import CANONICAL, MEDIAPIPE_33, Skeleton


def _mediapipe_joints() -> tuple[str, ...]:
    return tuple(name for name, _ in MEDIAPIPE_33.pairs)


@dataclass(frozen=True)
class SyntheticConfig:
    """How observations are corrupted. Pixels for 2D quantities, radians and metres for 3D.

    Attributes:
        width, height: image size of the random camera, pixels (ignored when a camera is given).
        noise_px: standard deviation of the Gaussian 2D jitter per coordinate, pixels.
        noise_spread: log-standard deviation of a per-keypoint factor on ``noise_px`` (0: every keypoint
            has the same noise level); the confidence model sees this factor.
        confidence_scale_px: confidence is ``1 / (1 + (sigma / confidence_scale_px)^2)`` for a keypoint
            whose noise level is ``sigma`` pixels, so noisier keypoints get lower confidence.
        outlier_rate: probability per keypoint of a gross error.
        outlier_px: gross errors move a keypoint by a uniform ``[0.5, 1] * outlier_px`` in a random direction.
        outlier_confidence: outliers get a confidence drawn uniformly in this range.
        dropout_rate: probability per keypoint of a miss (keypoint 0, confidence 0).
        drop_outside_image: keypoints outside the image or behind the camera get confidence 0.
        observed_joints: canonical joint names a 2D detector reports (default: those MediaPipe-33 maps to).
        rotation_noise_rad: standard deviation per axis of the local joint-rotation error, radians.
        root_noise_m: standard deviation per axis of the root-translation error, metres.
        noise_timescale_s: Gaussian smoothing (standard deviation, seconds) of the 3D errors over time,
            making them a slow drift/jitter like a real estimator's rather than white noise.
    """

    width: int = 1280
    height: int = 720
    noise_px: float = 2.0
    noise_spread: float = 0.5
    confidence_scale_px: float = 10.0
    outlier_rate: float = 0.01
    outlier_px: float = 60.0
    outlier_confidence: tuple[float, float] = (0.2, 0.7)
    dropout_rate: float = 0.02
    drop_outside_image: bool = True
    observed_joints: tuple[str, ...] = _mediapipe_joints()
    rotation_noise_rad: float = 0.05
    root_noise_m: float = 0.03
    noise_timescale_s: float = 0.1

    def __post_init__(self) -> None:
        for name in ("noise_px", "noise_spread", "outlier_px", "rotation_noise_rad", "root_noise_m",
                     "noise_timescale_s"):
            if getattr(self, name) < 0:
                raise ValueError(f"SyntheticConfig.{name} must be >= 0, got {getattr(self, name)}")
        for name in ("outlier_rate", "dropout_rate"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"SyntheticConfig.{name} must be in [0, 1], got {getattr(self, name)}")
        if self.confidence_scale_px <= 0:
            raise ValueError(f"SyntheticConfig.confidence_scale_px must be > 0, got {self.confidence_scale_px}")
        lo, hi = self.outlier_confidence
        if not 0.0 <= lo <= hi <= 1.0:
            raise ValueError(f"SyntheticConfig.outlier_confidence must satisfy 0 <= lo <= hi <= 1, got {lo, hi}")


def random_camera(motion: Motion, rng: np.random.Generator, width: int = 1280, height: int = 720,
                  fov_deg: tuple[float, float] = (45.0, 70.0), fill: tuple[float, float] = (0.5, 0.8),
                  camera_height_m: tuple[float, float] = (0.8, 1.8)) -> Camera:
    """A pinhole camera that keeps the whole motion in view, from a random azimuth.

    The camera looks horizontally-ish at the centre of the motion's bounding box from a distance at
    which the bounding box (body height and the horizontal extent of the path) fills a ``fill`` share
    of the image; its optical centre is ``camera_height_m`` above the ground (z = 0).

    Args:
        motion: the motion to frame (world frame, Z up, metres).
        rng: source of randomness (azimuth, field of view, fill share, camera height).
        width, height: image size, pixels.
        fov_deg: range of the horizontal field of view, degrees.
        fill: range of the share of the image the motion's extent covers.
        camera_height_m: range of the camera's height above the ground, metres.
    """
    pos = motion.positions().reshape(-1, 3)
    lo, hi = pos.min(axis=0), pos.max(axis=0)
    target = 0.5 * (lo + hi)
    radius_xy = 0.5 * float(np.linalg.norm(hi[:2] - lo[:2]))
    cam = Camera.from_fov(width, height, float(rng.uniform(*fov_deg)))
    share = float(rng.uniform(*fill))
    # distance at which the extent spans `share` of the image, vertically and horizontally
    extent_v, extent_h = float(hi[2] - lo[2]) + 0.1, 2.0 * radius_xy + 0.5
    dist = max(extent_v * cam.fy / (share * height), extent_h * cam.fx / (share * width)) + radius_xy
    azimuth = float(rng.uniform(0.0, 2.0 * np.pi))
    eye = target + dist * np.array([np.cos(azimuth), np.sin(azimuth), 0.0])
    eye[2] = float(rng.uniform(*camera_height_m))
    return cam.looking_at(eye, target)


def _smooth_noise(rng: np.random.Generator, shape: tuple[int, ...], std: float, sigma_frames: float) -> np.ndarray:
    """Gaussian noise ``shape`` (time first), smoothed over time, rescaled to per-sample std ``std``."""
    white = rng.standard_normal(shape)
    if sigma_frames <= 0 or std == 0:
        return std * white
    smooth = gaussian_filter1d(white, sigma_frames, axis=0, mode="reflect")
    impulse = np.zeros(int(8 * sigma_frames) + 1)
    impulse[len(impulse) // 2] = 1.0
    gain = float(np.linalg.norm(gaussian_filter1d(impulse, sigma_frames, mode="constant")))
    return std * smooth / gain


def noisy_motion(motion: Motion, config: SyntheticConfig, rng: np.random.Generator) -> Motion:
    """``motion`` with temporally correlated local-rotation and root-translation errors (same skeleton)."""
    sigma = config.noise_timescale_s * motion.fps
    t, j = motion.num_frames, motion.skeleton.num_joints
    rot_err = axis_angle_to_quat(_smooth_noise(rng, (t, j, 3), config.rotation_noise_rad, sigma))
    root_err = _smooth_noise(rng, (t, 3), config.root_noise_m, sigma)
    return Motion(motion.skeleton, motion.fps, motion.root_translation + root_err,
                  quat_normalize(quat_mul(motion.rotations, rot_err)))


def hip_centred(points: np.ndarray, skeleton: Skeleton = CANONICAL) -> np.ndarray:
    """Joints ``(..., J, 3)`` of ``skeleton`` relative to the hips' midpoint: how MediaPipe's world landmarks and
    the lifter's output are centred."""
    lh, rh = skeleton.index("left_hip"), skeleton.index("right_hip")
    return points - 0.5 * (points[..., lh:lh + 1, :] + points[..., rh:rh + 1, :])


def world_landmarks(motion: Motion, camera: Camera) -> np.ndarray:
    """``(T, J, 3)`` joints of ``motion`` as a detector's 3D landmarks: metres, centred on the hips'
    midpoint, in the camera's axes (x right, y down, z away), like MediaPipe's world landmarks."""
    return hip_centred(camera.to_camera(motion.positions()), motion.skeleton)


def _observed_indices(motion: Motion, names: tuple[str, ...]) -> np.ndarray:
    idx = [motion.skeleton.index(n) for n in names if n in motion.skeleton.names]
    if not idx:
        raise ValueError(f"none of the observed joints {names} is in the motion's skeleton {motion.skeleton.names}")
    return np.array(idx, dtype=np.int64)


def synthesize_observations(motion: Motion, camera: Camera | None = None,
                            config: SyntheticConfig = SyntheticConfig(), seed: int = 0) -> Observations:
    """Detector-like 2D keypoints and a noisy kinematic estimate of ``motion``, seen by ``camera``.

    Deterministic for a given ``seed``. Keypoints are in the motion skeleton's joint order; joints
    outside ``config.observed_joints`` (or not in the skeleton) have keypoint 0 and confidence 0.

    Args:
        motion: the ground-truth motion (world frame, Z up, metres).
        camera: the viewing camera; a :func:`random_camera` (seeded from ``seed``) when None.
        config: the corruption model.
        seed: seed of the numpy Generator driving every random choice.

    Returns:
        Observations with ``(T, J, 2)`` pixel keypoints, ``(T, J)`` confidences, the camera, the motion's
        fps, the noisy kinematic ``Motion`` and ``meta`` recording the seed, the config and the
        ``[frame, joint]`` pairs that received gross errors ("outliers").
    """
    rng = np.random.default_rng(seed)
    if camera is None:
        camera = random_camera(motion, rng, config.width, config.height)
    positions = motion.positions()
    t, j = positions.shape[:2]
    obs = _observed_indices(motion, config.observed_joints)
    shape = (t, len(obs))

    scale = np.exp(config.noise_spread * rng.standard_normal(shape)) if config.noise_spread > 0 else np.ones(shape)
    sigma = config.noise_px * scale
    points = camera.project(positions[:, obs]) + sigma[..., None] * rng.standard_normal((*shape, 2))
    conf = 1.0 / (1.0 + (sigma / config.confidence_scale_px) ** 2)

    outlier = rng.random(shape) < config.outlier_rate
    angle = rng.uniform(0.0, 2.0 * np.pi, shape)
    magnitude = config.outlier_px * rng.uniform(0.5, 1.0, shape)
    jump = magnitude[..., None] * np.stack([np.cos(angle), np.sin(angle)], axis=-1)
    points = np.where(outlier[..., None], points + jump, points)
    conf = np.where(outlier, rng.uniform(*config.outlier_confidence, shape), conf)

    missing = rng.random(shape) < config.dropout_rate
    if config.drop_outside_image:
        depth = camera.to_camera(positions[:, obs])[..., 2]
        inside = (points[..., 0] >= 0) & (points[..., 0] < camera.width) & (points[..., 1] >= 0) & (
            points[..., 1] < camera.height)
        missing |= ~inside | (depth <= 0)
    points[missing] = 0.0
    conf[missing] = 0.0

    keypoints = np.zeros((t, j, 2))
    confidence = np.zeros((t, j))
    keypoints[:, obs] = points
    confidence[:, obs] = conf
    outliers = np.zeros((t, j), dtype=bool)
    outliers[:, obs] = outlier & ~missing
    meta = {"source": "synthetic", "seed": seed, "config": asdict(config),
            "outliers": np.argwhere(outliers).tolist()}
    return Observations(keypoints, confidence, camera, motion.fps, noisy_motion(motion, config, rng), meta)
