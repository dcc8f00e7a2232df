"""SMPL fitting on a tiny, format-correct SMPL model the tests write (real SMPL files are never needed)."""

import numpy as np
import pytest
import torch
from _smpl_model import REST_JOINTS, tiny_smpl_data, write_model

from phymo.data import CANONICAL, DataFormatError, Motion, Skeleton, motion_arrays, save_npz
from phymo.data.rotations import axis_angle_to_quat, matrix_to_quat, quat_conj, quat_mul
from phymo.data.skeleton import SMPL_24
from phymo.data.smpl import SMPL_TO_WORLD, SmplFitConfig, fit_smpl, smpl_arrays
from phymo.data.smpl_model import load_smpl_layer, smpl_joints


@pytest.fixture
def model_dir(tmp_path):
    write_model(tmp_path / "smpl_models")
    return tmp_path / "smpl_models"


def _motion_from_smpl(betas, global_orient, body_pose, transl, fps=30.0):
    """A Motion on the canonical joint names whose FK equals the SMPL joints at every mapped joint.

    Needs ``body_pose`` with spine2 at identity (canonical chest hangs directly off spine).
    """
    d = tiny_smpl_data()
    rest = d["J_regressor"].toarray() @ (d["v_template"] + d["shapedirs"] @ betas)
    ext = {c: e for c, e in SMPL_24.pairs}
    offsets = np.zeros((CANONICAL.num_joints, 3))
    for j, (name, p) in enumerate(zip(CANONICAL.names, CANONICAL.parents, strict=True)):
        if p >= 0:
            offsets[j] = (SMPL_TO_WORLD @ (rest[ext[name]] - rest[ext[CANONICAL.names[p]]])
                          if name in ext else (0.0, 0.0, 0.1))
    skeleton = Skeleton(CANONICAL.names, CANONICAL.parents, offsets)
    q_fix = matrix_to_quat(SMPL_TO_WORLD)
    t = len(global_orient)
    local = axis_angle_to_quat(np.concatenate([global_orient, body_pose], 1).reshape(t, 24, 3))
    rots = np.zeros((t, CANONICAL.num_joints, 4))
    rots[..., 0] = 1.0
    for name, e in ext.items():
        j = CANONICAL.index(name)
        if e == 0:
            rots[:, j] = quat_mul(local[:, 0], quat_conj(q_fix))
        elif j not in CANONICAL.leaves:
            rots[:, j] = quat_mul(quat_mul(q_fix, local[:, e]), quat_conj(q_fix))
    root = transl + rest[0]
    return Motion(skeleton, fps, root, rots)


def _known_sequence(t=12, seed=3):
    rng = np.random.default_rng(seed)
    betas = rng.normal(scale=0.8, size=10)
    phase = np.linspace(0, np.pi, t)[:, None]
    body_pose = 0.35 * np.sin(phase + rng.uniform(0, 2 * np.pi, 69)) * rng.uniform(0.3, 1.0, 69)
    body_pose[:, 15:18] = 0.0  # spine2 (joint 6)
    base = matrix_to_quat(SMPL_TO_WORLD)
    turn = axis_angle_to_quat(np.concatenate([0.1 * np.sin(phase), 0.1 * np.cos(phase), 0.8 * phase], 1))
    from phymo.data.rotations import quat_to_axis_angle

    global_orient = quat_to_axis_angle(quat_mul(turn, np.broadcast_to(base, (t, 4))))
    transl = np.concatenate([0.5 * phase, 0.1 * np.sin(phase), 0.9 + 0.02 * phase], 1)
    return betas, global_orient, body_pose, transl


@pytest.mark.parametrize("iterations, config, max_mm, mean_mm", [
    (100, SmplFitConfig(), 6.0, 1.5),
    (60, SmplFitConfig(chunk_size=5, lbfgs_iterations=30), 8.0, 2.0),
    (200, SmplFitConfig(init_from_rotations=False), 8.0, 3.0),  # the optimizer alone, from SMPL's rest pose
], ids=["one-chunk", "chunked", "rest-pose-init"])
def test_fit_reproduces_joints_of_a_posed_model(model_dir, iterations, config, max_mm, mean_mm):
    betas, go, bp, tr = _known_sequence()
    motion = _motion_from_smpl(betas, go, bp, tr)
    jt, jd = (torch.as_tensor(a) for a in (REST_JOINTS, tiny_smpl_data()["shapedirs"].reshape(24, 8, 3, 10)
                                                            .mean(1)))
    truth, _ = smpl_joints(jt, jd, *(torch.as_tensor(a) for a in (betas, go, bp, tr)))
    truth = truth.numpy()
    mapped = SMPL_24.external_indices()
    np.testing.assert_allclose(motion.positions()[:, SMPL_24.canonical_indices()], truth[:, mapped], atol=1e-6)

    fit = fit_smpl(motion, model_dir, iterations=iterations, config=config)
    assert fit.global_orient.shape == (12, 3) and fit.body_pose.shape == (12, 69) and fit.betas.shape == (10,)
    assert fit.transl.shape == (12, 3) and fit.joints.shape == (12, 24, 3) and fit.fps == 30.0
    err = np.linalg.norm(fit.joints[:, mapped] - truth[:, mapped], axis=-1)
    assert err.max() < max_mm / 1000, f"max joint error {err.max() * 1000:.1f} mm"
    assert fit.mpjpe_m == pytest.approx(err.mean(), abs=1e-6) and fit.mpjpe_m < mean_mm / 1000
    np.testing.assert_allclose(fit.betas, betas, atol=0.02)  # bone lengths pin the shape down
    # The parameters are in phymo's Z-up world: an smplx layer fed with them lands on the motion.
    layer = load_smpl_layer(model_dir)
    from smplx.lbs import lbs

    f32 = lambda a: torch.tensor(np.array(a), dtype=torch.float32)  # noqa: E731
    _, joints = lbs(f32(np.broadcast_to(fit.betas, (12, 10))), f32(np.concatenate([fit.global_orient,
                    fit.body_pose], 1)), layer.v_template, layer.shapedirs, layer.posedirs, layer.J_regressor,
                    layer.parents, layer.lbs_weights)
    np.testing.assert_allclose(joints.numpy() + fit.transl[:, None], fit.joints, atol=1e-4)


def test_smpl_arrays_merge_into_motion_npz(model_dir, tmp_path):
    betas, go, bp, tr = _known_sequence(t=4)
    motion = _motion_from_smpl(betas, go, bp, tr)
    fit = fit_smpl(motion, model_dir, iterations=20, config=SmplFitConfig(lbfgs_iterations=5))
    arrays = smpl_arrays(fit)
    assert all(k.startswith("smpl_") for k in arrays)
    for key in ("smpl_betas", "smpl_global_orient", "smpl_body_pose", "smpl_transl", "smpl_joints", "smpl_gender"):
        assert key in arrays
    out = save_npz(tmp_path / "motion.npz", motion_arrays(motion, extras=arrays))
    with np.load(out) as npz:
        assert npz["smpl_body_pose"].shape == (4, 69) and str(npz["smpl_gender"]) == "neutral"
        assert npz["smpl_joints"].shape == (4, 24, 3)


def test_fit_needs_canonical_joint_names(model_dir):
    sk = Skeleton(("root", "a"), (-1, 0), np.array([[0, 0, 0], [0, 0, 1.0]]))
    motion = Motion(sk, 30.0, np.zeros((2, 3)), np.tile([1.0, 0, 0, 0], (2, 2, 1)))
    with pytest.raises(DataFormatError, match="canonical joint names"):
        fit_smpl(motion, model_dir, iterations=1)
