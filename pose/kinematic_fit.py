"""Kinematic 3D initialization: fit the canonical skeleton to 2D keypoints and 3D landmarks over a clip.

The fit runs in the camera frame (OpenCV axes: x right, y down, z forward, metres) and minimizes,
batched over all frames with L-BFGS, the negative log-likelihood-style sum of squared, normalized
residuals (each term's scale is a field of :class:`FitConfig`):

* 2D reprojection of the joints through the camera intrinsics, confidence-weighted, Huber-robust
  (scale ``sigma_2d_px`` pixels);
* 3D agreement of the hip-centred joints with a 3D prior in camera axes (``FitConfig.prior``: phymo's temporal
  lifter, :mod:`phymo.pose.lifter`, or the detector's world landmarks, MediaPipe's being metric, hip-centred and
  camera-aligned), weighted (scale ``sigma_3d_m``);
* temporal smoothness: joint accelerations (scale ``sigma_accel`` m/s^2);
* joint limits: per-joint boxes on the local rotation vector, the human ranges of
  :mod:`phymo.data.joint_limits` in radians, scale ``sigma_limit_rad``; and a weak prior toward the
  rest pose (``sigma_prior_rad``).

Parameters: per-frame root translation, root rotation and local joint rotations as rotation vectors
(roma). Bone lengths are fixed before the fit: the canonical skeleton scaled to ``height`` when
given, else the canonical size (an average adult, :data:`ASSUMED_HEIGHT_M`; see :func:`fit_skeleton`).

World frame (stored as the camera extrinsics, a :class:`phymo.pose.ground.Ground`): Z up, perpendicular
to the ground, ground at z = 0; X along the camera's viewing direction projected on the ground. The
ground is given (the clip's, shared by its segments: the camera is static) or estimated under the body
(:func:`phymo.pose.ground.estimate_ground`: the centre of mass over the support), the origin then on the
ground below the pelvis in the first frame.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field

import numpy as np

from phymo.data import (
    CANONICAL,
    Camera,
    ConfigError,
    Motion,
    Observations,
    Skeleton,
    axis_angle_to_quat,
    check_range,
    forward_kinematics,
    forward_kinematics_matrices,
    joint_ranges,
    matrix_to_quat,
    metrics,
    quat_mul,
    quat_to_matrix,
    swing,
)

from .ground import Ground, estimate_ground

log = logging.getLogger(__name__)

_SIDES = ("left", "right")
#: the person's height when none is given: the canonical skeleton's, toe to head top, metres
ASSUMED_HEIGHT_M = CANONICAL.height()
#: joints whose swing is initialized from the landmarks: (joint, child) per side.
_CHAINS = (("hip", "knee"), ("knee", "ankle"), ("ankle", "toe"), ("shoulder", "elbow"), ("elbow", "wrist"))


#: the 3D priors the fit can use (:attr:`FitConfig.prior`)
PRIORS = ("lifter", "fused", "mediapipe", "none")
#: the priors that run the lifter (its weights are part of what the fit depends on)
LIFTER_PRIORS = ("lifter", "fused")


@dataclass(frozen=True)
class FitConfig:
    """Kinematic-fit settings (see the module docstring for the terms); ``height``: the person's height, metres
    (None: assumed, :data:`ASSUMED_HEIGHT_M`)."""

    height: float | None = field(default=None, metadata={"help": "the person's height, metres"})
    iterations: int = 150
    root_iterations: int = 30
    sigma_2d_px: float = 5.0
    huber_2d: float = 3.0
    sigma_3d_m: float = 0.04
    prior: str = field(default="fused", metadata={"help": "the fit's 3D prior: lifter (phymo's temporal lifter, "
                                                           "trained on mocap), fused (its mean with the "
                                                           "detector's world landmarks), mediapipe (the "
                                                           "landmarks alone) or none"})
    world_rotation_free: bool = True
    sigma_accel: float = 60.0
    sigma_limit_rad: float = 0.05
    sigma_prior_rad: float = 1.5
    min_confidence: float = 0.2
    approximate_weight: float = 0.5
    estimate_ground: bool = True

    def __post_init__(self) -> None:
        if self.height is not None:
            check_range("height", self.height, 0.5, 2.5, hint="a person's height in metres")
        check_range("iterations", self.iterations, 0)
        check_range("root_iterations", self.root_iterations, 0)
        if self.prior not in PRIORS:
            raise ConfigError("prior", f"must be one of {', '.join(PRIORS)}, got {self.prior!r}")
        for name in ("sigma_2d_px", "huber_2d", "sigma_3d_m", "sigma_accel", "sigma_limit_rad", "sigma_prior_rad"):
            check_range(name, getattr(self, name), 0.0, strict_low=True)


@dataclass
class FitResult:
    """The fitted motion (world frame), the camera with its extrinsics, the observations and a report."""

    motion: Motion
    camera: Camera
    observations: Observations
    reproj_px: float
    report: dict = field(default_factory=dict)


def fit_skeleton(height_m: float | None) -> tuple[Skeleton, str]:
    """The canonical skeleton scaled to ``height_m`` (``"given"``), or as it is (``"assumed"``) when None.

    The canonical skeleton (:data:`ASSUMED_HEIGHT_M` from toe to head top) is an average adult. The
    detector's world landmarks do not measure the person: MediaPipe normalises their scale (on the shared
    Pose2Sim trial its limbs came out 3-15 % short, a 1.53 m body for a 1.68 m person; 1.40-1.57 m on other
    adults), so sizing the body from them was worse than assuming (docs/results.md).
    """
    if height_m is None:
        return CANONICAL, "assumed"
    return CANONICAL.scaled(height_m / CANONICAL.height()), "given"


#: canonical body axes seen from a camera the person faces: forward (+X) -> -z_cam, left (+Y) -> +x_cam, up -> -y_cam.
_FACING_CAMERA = np.array([[0.0, 1.0, 0.0], [0.0, 0.0, -1.0], [-1.0, 0.0, 0.0]])


def init_rotations(skel: Skeleton, kp: np.ndarray, conf: np.ndarray, world: np.ndarray | None) -> np.ndarray:
    """``(T, J, 3)`` rotation vectors: root from hips/shoulders (Kabsch), limbs swung onto the landmarks.

    Without landmarks: facing (or turned away from) the camera, arms down.
    """
    from scipy.spatial.transform import Rotation

    t, jn = conf.shape
    rest = skel.rest_positions()
    torso = [skel.index(n) for n in ("left_hip", "right_hip", "left_shoulder", "right_shoulder")]
    rv = np.zeros((t, jn, 3))
    if world is None:
        ls, rs = skel.index("left_shoulder"), skel.index("right_shoulder")
        ok = (conf[:, ls] > 0) & (conf[:, rs] > 0)
        away = ok.any() and np.median(kp[ok, ls, 0] - kp[ok, rs, 0]) < 0
        root = _FACING_CAMERA @ (np.diag([-1.0, -1.0, 1.0]) if away else np.eye(3))
        rv[:, 0] = Rotation.from_matrix(root).as_rotvec()
        rv[:, skel.index("left_shoulder"), 0], rv[:, skel.index("right_shoulder"), 0] = -1.3, 1.3
        return rv
    last = _FACING_CAMERA
    for i in range(t):
        ok = conf[i, torso] > 0.3
        if ok.sum() >= 3:
            src = rest[torso][ok] - rest[torso][ok].mean(0)
            dst = world[i, torso][ok] - world[i, torso][ok].mean(0)
            last = metrics.kabsch(src, dst)
        glob = {0: last}
        rv[i, 0] = Rotation.from_matrix(last).as_rotvec()
        for j in range(1, jn):
            glob[j] = glob[skel.parents[j]]
        for s in _SIDES:
            for joint, child in _CHAINS:
                j, c = skel.index(f"{s}_{joint}"), skel.index(f"{s}_{child}")
                gp = glob[skel.parents[j]]
                if conf[i, j] > 0.3 and conf[i, c] > 0.3:
                    rot = quat_to_matrix(swing(gp @ skel.offsets[c], world[i, c] - world[i, j]))
                    glob[j] = rot @ gp
                    rv[i, j] = Rotation.from_matrix(gp.T @ rot @ gp).as_rotvec()
                else:
                    glob[j] = gp
                for k in range(j + 1, jn):  # descendants inherit
                    if skel.parents[k] == j:
                        glob[k] = glob[j]
    return rv


def _translation_from_2d(rel: np.ndarray, kp: np.ndarray, w: np.ndarray, cam: Camera) -> np.ndarray:
    """Per-frame ``t`` making ``rel + t`` project onto ``kp`` (linear least squares), ``(T, 3)``; NaN if unseen."""
    t = np.full((len(kp), 3), np.nan)
    for i in range(len(kp)):
        ok = w[i] > 0
        if ok.sum() < 3:
            continue
        du, dv = kp[i, ok, 0] - cam.cx, kp[i, ok, 1] - cam.cy
        x, y, z = rel[i, ok].T
        n = ok.sum()
        a = np.zeros((2 * n, 3))
        a[:n, 0], a[:n, 2], a[n:, 1], a[n:, 2] = cam.fx, -du, cam.fy, -dv
        b = np.r_[du * z - cam.fx * x, dv * z - cam.fy * y]
        sw = np.sqrt(np.r_[w[i, ok], w[i, ok]])
        t[i] = np.linalg.lstsq(a * sw[:, None], b * sw, rcond=None)[0]
    good = ~np.isnan(t[:, 0])
    if not good.any():
        t[:] = [0.0, 0.0, 3.0]
    elif not good.all():
        idx = np.arange(len(t))
        for d in range(3):
            t[:, d] = np.interp(idx, idx[good], t[good, d])
    return t


def _optimize(skel: Skeleton, rv0, tr0, kp, w2d, world, w3d, cam: Camera, fps: float, cfg: FitConfig):
    """L-BFGS over rotation vectors and root translations (camera frame); returns numpy arrays and a loss trace."""
    import roma
    import torch

    dt = torch.float64
    kp_t, w2_t = torch.as_tensor(kp, dtype=dt), torch.as_tensor(w2d, dtype=dt)
    off = torch.as_tensor(skel.offsets, dtype=dt)
    lim = torch.as_tensor(joint_ranges(skel), dtype=dt)
    f = torch.tensor([cam.fx, cam.fy], dtype=dt)
    c = torch.tensor([cam.cx, cam.cy], dtype=dt)
    lh, rh = skel.index("left_hip"), skel.index("right_hip")
    if world is not None:
        world_t = torch.as_tensor(world, dtype=dt)
        world_t = world_t - 0.5 * (world_t[:, lh:lh + 1] + world_t[:, rh:rh + 1])
        w3_t = torch.as_tensor(w3d, dtype=dt)
    leaves = torch.zeros(skel.num_joints, dtype=torch.bool)
    leaves[skel.leaves] = True
    root_rv = torch.tensor(rv0[:, :1], dtype=dt, requires_grad=True)
    body_rv = torch.tensor(rv0[:, 1:], dtype=dt, requires_grad=True)
    tr = torch.tensor(tr0, dtype=dt, requires_grad=True)
    t = len(kp)
    trace: list[float] = []

    def positions():
        rv = torch.cat([root_rv, body_rv], dim=1)
        return forward_kinematics_matrices(skel.parents, off, tr, roma.rotvec_to_rotmat(rv))[0], rv

    def loss_fn():
        p, rv = positions()
        z = p[..., 2:3].clamp(min=0.05)
        r = (p[..., :2] / z * f + c - kp_t) / cfg.sigma_2d_px
        a = r.norm(dim=-1)
        hub = torch.where(a < cfg.huber_2d, 0.5 * a**2, cfg.huber_2d * (a - 0.5 * cfg.huber_2d))
        total = (w2_t * hub).sum()
        if world is not None:
            rel = p - 0.5 * (p[:, lh:lh + 1] + p[:, rh:rh + 1])
            if cfg.world_rotation_free:  # compare shapes only: rotate the landmarks onto the fit, per frame
                with torch.no_grad():
                    m = torch.einsum("tj,tjx,tjy->txy", w3_t, rel, world_t)
                    u, _, vh = torch.linalg.svd(m)
                    d = torch.sign(torch.linalg.det(u @ vh))
                    u = torch.cat([u[..., :2], u[..., 2:] * d[:, None, None]], dim=-1)
                    rot = u @ vh
                rel = rel @ rot
            total = total + 0.5 * (w3_t * ((rel - world_t) / cfg.sigma_3d_m).pow(2).sum(-1)).sum()
        if t >= 3:
            acc = (p[2:] - 2 * p[1:-1] + p[:-2]) * fps**2 / cfg.sigma_accel
            total = total + 0.5 * acc.pow(2).sum()
        body = rv[:, 1:]
        viol = torch.relu(lim[1:, :, 0] - body) + torch.relu(body - lim[1:, :, 1])
        total = total + 0.5 * (viol / cfg.sigma_limit_rad).pow(2).sum()
        prior = torch.where(leaves[1:, None], body / 0.05, body / cfg.sigma_prior_rad)
        total = total + 0.5 * prior.pow(2).sum()
        return total / t

    for params, iters in (([root_rv, tr], cfg.root_iterations), ([root_rv, body_rv, tr], cfg.iterations)):
        if iters <= 0:
            continue
        opt = torch.optim.LBFGS(params, lr=1.0, max_iter=iters, history_size=30, line_search_fn="strong_wolfe",
                                tolerance_grad=1e-10, tolerance_change=1e-12)

        def closure(opt=opt):
            opt.zero_grad()
            loss = loss_fn()
            loss.backward()
            trace.append(float(loss.detach()))
            return loss

        opt.step(closure)
    with torch.no_grad():
        p, rv = positions()
    return rv.numpy(), tr.detach().numpy(), p.numpy(), trace


def _own_ground(p_cam: np.ndarray, skel: Skeleton, config: FitConfig) -> Ground:
    """The ground under joints ``p_cam (T, J, 3)`` (camera frame), origin below the first frame's pelvis;
    without ``config.estimate_ground``, level with the camera under the lowest joint."""
    if config.estimate_ground:
        up, h, method = estimate_ground(p_cam, skel)
    else:
        up, h, method = np.array([0.0, -1.0, 0.0]), float(np.min(p_cam[..., 1] * -1)), "camera"
    return Ground.below(p_cam[0, 0], up, h, method)


def reprojection_error(positions_world: np.ndarray, camera: Camera, kp: np.ndarray, conf: np.ndarray,
                       min_confidence: float = 0.5) -> float:
    """:func:`phymo.data.metrics.reprojection_error_px` of joints ``(T, J, 3)`` projected by ``camera``, over the
    keypoints with ``conf >= min_confidence`` (the detector's less certain ones say little about the fit)."""
    return metrics.reprojection_error_px(camera.project(positions_world), kp, np.where(conf >= min_confidence, conf, 0))


def fit_kinematic(keypoints: np.ndarray, confidence: np.ndarray, camera: Camera, fps: float,
                  world: np.ndarray | None = None, config: FitConfig = FitConfig(), meta: dict | None = None,
                  approximate: tuple[str, ...] = (), ground: Ground | None = None,
                  world_weight: np.ndarray | None = None) -> FitResult:
    """Fit the canonical skeleton to one person's keypoints over a clip.

    Args:
        keypoints: ``(T, J, 2)`` pixels, canonical joint order.
        confidence: ``(T, J)`` in [0, 1]; 0 = missing.
        camera: intrinsics (its extrinsics are ignored and replaced by the fitted world frame).
        fps: frames per second.
        world: optional ``(T, J, 3)`` 3D prior (the lifter's joints or the detector's world landmarks), metres,
            hip-centred, camera-aligned axes.
        config: the fit settings.
        meta: source description copied into the observations.
        approximate: canonical joints whose keypoints only approximate the joint (e.g. a nose for the
            head, COCO hips); their weight in the 2D and 3D terms is multiplied by ``approximate_weight``.
        ground: the world frame to use (the clip's, from another segment); None: estimated under this body.
        world_weight: ``(T, J)`` weights of ``world`` (default: the keypoints' confidences, as for landmarks that
            are only as good as the 2D detection they come with).

    Returns:
        :class:`FitResult`: motion in the world frame (Z up, ground z = 0), camera with extrinsics
        world->camera, observations (keypoints, confidences, camera, fps, motion, meta) and
        ``reproj_px`` (mean 2D error over keypoints with confidence >= 0.5).
    """
    kp, conf = np.asarray(keypoints, np.float64), np.asarray(confidence, np.float64)
    if kp.ndim != 3 or kp.shape[1] != CANONICAL.num_joints or conf.shape != kp.shape[:2]:
        raise ValueError(f"keypoints must be (T, {CANONICAL.num_joints}, 2) with confidence (T, J); got "
                         f"{kp.shape}, {conf.shape}")
    if not (conf > 0).any():
        raise ValueError("no keypoint has a positive confidence; nothing to fit")
    intr = Camera(camera.fx, camera.fy, camera.cx, camera.cy, camera.width, camera.height)
    w = np.where(conf >= config.min_confidence, conf, 0.0)
    for name in approximate:
        w[:, CANONICAL.index(name)] *= config.approximate_weight
    skel, scale_from = fit_skeleton(config.height)
    rv0 = init_rotations(skel, kp, w, world)
    rest_rel = forward_kinematics(skel.parents, skel.offsets, np.zeros((len(kp), 3)), axis_angle_to_quat(rv0))
    tr0 = _translation_from_2d(rest_rel, kp, w, intr)
    w3d = w if world_weight is None else np.asarray(world_weight, np.float64)
    rv, tr, p_cam, trace = _optimize(skel, rv0, tr0, kp, w, world, w3d, intr, fps, config)
    ground = _own_ground(p_cam, skel, config) if ground is None else ground
    r_cw, origin = ground.rotation, ground.origin
    cam = Camera(intr.fx, intr.fy, intr.cx, intr.cy, intr.width, intr.height, r_cw.T, origin)
    q = axis_angle_to_quat(rv)
    q[:, 0] = quat_mul(np.broadcast_to(matrix_to_quat(r_cw), q[:, 0].shape), q[:, 0])
    motion = Motion(skel, fps, (tr - origin) @ r_cw.T, q)
    pos_w = motion.positions()
    err = reprojection_error(pos_w, cam, kp, conf)
    report = {"config": asdict(config), "skeleton_scale_from": scale_from, "height_m": skel.height(),
              "ground": ground.to_dict(), "loss_first": trace[0] if trace else None,
              "loss_final": trace[-1] if trace else None, "evaluations": len(trace), "reproj_px": err}
    obs = Observations(kp, conf, cam, fps, motion, {**(meta or {}), "kinematic_fit": report})
    log.info("kinematic fit: %d frames, reprojection %.1f px to the keypoints fitted, height %.2f m (%s), "
             "ground from %s",
             len(kp), err, skel.height(), scale_from, ground.method)
    return FitResult(motion, cam, obs, err, report)

