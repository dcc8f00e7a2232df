"""SMPL parameters fitted to a motion, in phymo's world frame.

The user's model files are read by :mod:`phymo.data.smpl_model` (phymo never downloads them).

Frames. SMPL's native frame is Y up, the body facing +Z, its left side +X. phymo's world is Z up,
facing +X, left +Y (see :mod:`phymo.data.skeleton`); the fixed rotation between them is
:data:`SMPL_TO_WORLD` (native -> world). Fitted parameters are in phymo's **world** frame: feeding
``global_orient``, ``body_pose``, ``betas``, ``transl`` to an smplx SMPL layer gives joints and
vertices that line up with ``motion.npz`` ``positions`` (Z up, metres). To get SMPL's native Y-up
parameters instead, with ``J0`` the pelvis rest joint for the fitted betas:
``R_native = SMPL_TO_WORLD.T @ R(global_orient)``, ``transl_native = SMPL_TO_WORLD.T @ (J0 + transl) - J0``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import DataFormatError
from .motion import Motion
from .rotations import matrix_to_quat, quat_conj, quat_mul, quat_to_axis_angle
from .skeleton import SMPL_24, SMPL_24_NAMES
from .smpl_model import NUM_JOINTS, joint_model, load_smpl_layer, smpl_joints

_CM2 = 1e-4  # the data term is in cm^2 so that the weights below are O(1e-3..1)
#: Rotation taking SMPL's native frame (Y up, facing +Z, left +X) to phymo's world (Z up, facing +X, left +Y).
SMPL_TO_WORLD = np.array([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])

FRAME_NOTE = ("phymo world frame: Z up, metres; global_orient and transl already include the SMPL(Y up) -> "
              "world rotation SMPL_TO_WORLD, so smplx joints/vertices line up with motion positions")


@dataclass(frozen=True)
class SmplFitConfig:
    """Weights and schedule of :func:`fit_smpl` (the iteration count is :func:`fit_smpl`'s argument).

    The data term is the weighted mean squared joint error per frame in cm^2, summed over frames.

    Attributes:
        lbfgs_iterations: L-BFGS iterations (strong-Wolfe line search) after the Adam steps, per chunk.
        learning_rate: Adam step size, radians / metres.
        shape_weight: weight of ``|betas|^2`` in the bone-length fit of betas (betas are standard deviations).
        pose_prior_weight: weight of ``|body_pose|^2`` per frame, radians^2; keeps unobserved rotations
            (twists, head, feet, hands) near the rest pose.
        smooth_weight: weight of ``|R_{t+1} - R_t|_F^2`` summed over the 24 joint rotations.
        approximate_weight: data weight of mapped joints the mapping marks approximate (spine, chest).
        chunk_size: frames optimized together once betas are fixed (bounds memory for long clips).
        init_from_rotations: start body_pose from the motion's local rotations where joints correspond
            (else from SMPL's rest pose); global_orient always starts from the motion's root rotation.
    """

    lbfgs_iterations: int = 50
    learning_rate: float = 0.05
    shape_weight: float = 1e-3
    pose_prior_weight: float = 1e-3
    smooth_weight: float = 1e-2
    approximate_weight: float = 0.5
    chunk_size: int = 256
    init_from_rotations: bool = True


@dataclass(frozen=True)
class SmplFit:
    """SMPL parameters fitted to a motion, in phymo's world frame (see :data:`FRAME_NOTE`).

    Attributes:
        global_orient: ``(T, 3)`` root rotation vector, radians, world frame (includes :data:`SMPL_TO_WORLD`).
        body_pose: ``(T, 69)`` 23 local joint rotation vectors, radians, SMPL's native joint axes.
        betas: ``(B,)`` shape coefficients shared over frames (B = the model's count, at most 10).
        transl: ``(T, 3)`` SMPL translation, metres, world frame.
        joints: ``(T, 24, 3)`` fitted SMPL joint positions, metres, world frame, SMPL_24 order.
        fps: frames per second of the motion.
        mpjpe_m: mean distance between fitted and target joints over mapped joints and frames, metres.
        gender: the model file used.
        frame: the frame convention in words.
    """

    global_orient: np.ndarray
    body_pose: np.ndarray
    betas: np.ndarray
    transl: np.ndarray
    joints: np.ndarray
    fps: float
    mpjpe_m: float
    gender: str
    frame: str = FRAME_NOTE

    @property
    def num_frames(self) -> int:
        return self.global_orient.shape[0]


def _initial_pose(motion: Motion, pelvis_rest: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Global orient, body pose and transl from the motion's local rotations where joints correspond."""
    q_fix = matrix_to_quat(SMPL_TO_WORLD)
    rots = motion.rotations
    sk = motion.skeleton
    t = motion.num_frames
    quats = np.zeros((t, NUM_JOINTS, 4))
    quats[..., 0] = 1.0
    leaves = set(sk.leaves)
    for canon, ext in SMPL_24.pairs:
        j = sk.index(canon)
        if ext == 0 or j in leaves:
            continue
        # A canonical local rotation in world axes, expressed in SMPL's native axes.
        quats[:, ext] = quat_mul(quat_mul(quat_conj(q_fix), rots[:, j]), q_fix)
    root = quat_mul(rots[:, sk.index("pelvis")], np.broadcast_to(q_fix, (t, 4)))
    aa = quat_to_axis_angle(quats)
    return quat_to_axis_angle(root), aa[:, 1:].reshape(t, -1), motion.root_translation - pelvis_rest


def _targets(motion: Motion, approximate_weight: float) -> tuple[np.ndarray, np.ndarray]:
    """``(T, 24, 3)`` target joints (zeros where unmapped) and ``(24,)`` data weights."""
    try:
        SMPL_24.canonical_indices(motion.skeleton)
        motion.skeleton.index("pelvis")
    except ValueError as exc:
        raise DataFormatError(f"fit_smpl needs a motion on phymo's canonical joint names ({exc})") from exc
    target = np.nan_to_num(SMPL_24.from_canonical(motion.positions(), motion.skeleton))
    weights = np.zeros(NUM_JOINTS)
    for canon, ext in SMPL_24.pairs:
        weights[ext] = approximate_weight if canon in SMPL_24.approximate else 1.0
    return target, weights


def fit_smpl(motion: Motion, model_dir: str | Path, gender: str = "neutral", iterations: int = 200,
             device: str = "cpu", config: SmplFitConfig = SmplFitConfig()) -> SmplFit:
    """Fit SMPL to the motion's world joint positions through the SMPL_24 mapping.

    Betas are fitted once, to the skeleton's bone lengths (pose-independent), then poses and
    translations chunk by chunk (``config.chunk_size`` frames) with betas fixed, each chunk with
    ``iterations`` Adam steps then ``config.lbfgs_iterations`` L-BFGS iterations. Poses start from
    the motion's local rotations where the joints correspond. Computation is float64 on ``device``.

    Args:
        motion: a motion on the canonical joint names (Z up, metres).
        model_dir: folder with the user's ``SMPL_<GENDER>.pkl``/``.npz`` (see :func:`find_model_file`).

    Returns:
        :class:`SmplFit` in phymo's world frame; ``mpjpe_m`` is the residual on mapped joints.
    """
    import torch

    if motion.num_frames == 0:
        raise DataFormatError("fit_smpl: the motion has no frames")
    layer = load_smpl_layer(model_dir, gender)
    dtype = torch.float64
    j_template, j_dirs = joint_model(layer, dtype, device)
    target, weights = _targets(motion, config.approximate_weight)
    tensor = lambda a: torch.as_tensor(np.ascontiguousarray(a), dtype=dtype, device=device)  # noqa: E731
    w = tensor(weights)
    model = (j_template, j_dirs)

    betas = _fit_betas(model, motion.skeleton, config)
    with torch.no_grad():
        pelvis_rest = (j_template[0] + j_dirs[0] @ betas).cpu().numpy()
    go0, bp0, tr0 = _initial_pose(motion, pelvis_rest)
    if not config.init_from_rotations:
        bp0 = np.zeros_like(bp0)
    t = motion.num_frames
    parts, prev = [], None
    for s in range(0, t, config.chunk_size):
        sl = slice(s, min(t, s + config.chunk_size))
        go, bp, tr = _solve(model, tensor(target[sl]), w, [tensor(a[sl]) for a in (go0, bp0, tr0)], betas, prev,
                            iterations, config)
        parts.append((go, bp, tr))
        prev = torch.cat([go, bp], dim=-1)[-1:]
    go, bp, tr = (torch.cat(p) for p in zip(*parts, strict=True))
    with torch.no_grad():
        joints, _ = smpl_joints(j_template, j_dirs, betas, go, bp, tr)
        err = torch.linalg.norm(joints - tensor(target), dim=-1)[:, weights > 0].mean()
    as_np = lambda x: x.detach().cpu().numpy()  # noqa: E731
    return SmplFit(as_np(go), as_np(bp), as_np(betas), as_np(tr), as_np(joints), float(motion.fps),
                   float(err), gender)


def _fit_betas(model, skeleton, config):
    """``(B,)`` betas whose rest distances between mapped joints match the skeleton's bone lengths.

    Bone lengths do not depend on pose, so this is a small least-squares problem over betas alone;
    bones touching an approximate joint (spine, chest) get ``config.approximate_weight``.
    """
    import torch

    j_template, j_dirs = model
    ext = dict(SMPL_24.pairs)
    child, parent, length, weight = [], [], [], []
    for j, p in enumerate(skeleton.parents):
        c_name = skeleton.names[j]
        p_name = skeleton.names[p] if p >= 0 else None
        if p_name in ext and c_name in ext:
            child.append(ext[c_name])
            parent.append(ext[p_name])
            length.append(skeleton.bone_lengths()[j])
            approx = c_name in SMPL_24.approximate or p_name in SMPL_24.approximate
            weight.append(config.approximate_weight if approx else 1.0)
    as_t = lambda a: torch.as_tensor(np.asarray(a), dtype=j_template.dtype, device=j_template.device)  # noqa: E731
    length, weight = as_t(length), as_t(weight)
    betas = torch.zeros(j_dirs.shape[-1], dtype=j_template.dtype, device=j_template.device, requires_grad=True)
    lbfgs = torch.optim.LBFGS([betas], lr=1.0, max_iter=100, line_search_fn="strong_wolfe",
                              tolerance_grad=1e-12, tolerance_change=1e-15)

    def closure():
        lbfgs.zero_grad()
        rest = j_template + torch.einsum("jcb,b->jc", j_dirs, betas)
        bones = torch.linalg.norm(rest[child] - rest[parent], dim=-1)
        loss = (weight * (bones - length).square()).sum() / _CM2 + config.shape_weight * betas.square().sum()
        loss.backward()
        return loss

    lbfgs.step(closure)
    return betas.detach()


def _solve(model, target, w, init, betas, prev_pose, iterations, config):
    """Optimize one chunk with fixed betas; returns ``(global_orient, body_pose, transl)`` tensors."""
    import torch

    go, bp, tr = (p.clone().requires_grad_(True) for p in init)
    params = [go, bp, tr]
    prev_rot = None
    if prev_pose is not None:
        from smplx.lbs import batch_rodrigues

        prev_rot = batch_rodrigues(prev_pose.reshape(-1, 3)).reshape(1, NUM_JOINTS, 3, 3)
    wsum = w.sum()

    def loss_fn():
        joints, rot = smpl_joints(*model, betas, go, bp, tr)
        data = ((joints - target).square().sum(-1) * w).sum() / wsum / _CM2
        if prev_rot is not None:
            rot = torch.cat([prev_rot, rot])
        smooth = (rot[1:] - rot[:-1]).square().sum()
        return (data + config.smooth_weight * smooth + config.pose_prior_weight * bp.square().sum()
)

    adam = torch.optim.Adam(params, lr=config.learning_rate)
    # The step size decays geometrically to 1/20 of its start, so Adam settles before L-BFGS polishes.
    decay = torch.optim.lr_scheduler.ExponentialLR(adam, gamma=0.05 ** (1.0 / max(iterations, 1)))
    for _ in range(iterations):
        adam.zero_grad()
        loss = loss_fn()
        loss.backward()
        adam.step()
        decay.step()
    if config.lbfgs_iterations > 0:
        lbfgs = torch.optim.LBFGS(params, lr=1.0, max_iter=config.lbfgs_iterations, line_search_fn="strong_wolfe",
                                  tolerance_grad=1e-12, tolerance_change=1e-15)

        def closure():
            lbfgs.zero_grad()
            loss = loss_fn()
            loss.backward()
            return loss

        lbfgs.step(closure)
    return go.detach(), bp.detach(), tr.detach()


def smpl_arrays(fit: SmplFit) -> dict[str, np.ndarray]:
    """``smpl_*`` arrays for :func:`phymo.data.export.motion_arrays` ``extras`` (world frame, metres, radians)."""
    return {
        "smpl_betas": fit.betas,
        "smpl_global_orient": fit.global_orient,
        "smpl_body_pose": fit.body_pose,
        "smpl_transl": fit.transl,
        "smpl_joints": fit.joints,
        "smpl_joint_names": np.array(SMPL_24_NAMES),
        "smpl_gender": np.array(fit.gender),
        "smpl_fit_mpjpe_m": np.array(fit.mpjpe_m),
        "smpl_frame": np.array(fit.frame),
    }


__all__ = ["FRAME_NOTE", "SMPL_TO_WORLD", "SmplFit", "SmplFitConfig", "fit_smpl", "smpl_arrays"]
