import numpy as np
import pytest
import roma
import torch

from phymo.data import CANONICAL, JOINT_MAPPINGS, Motion, Skeleton, forward_kinematics, forward_kinematics_matrices
from phymo.data.rotations import axis_angle_to_quat, identity_quat, quat_normalize, quat_rotate, quat_to_matrix
from phymo.data.skeleton import BODY_25, BODY_25B, COCO_17, COCO_18, H36M_17, get_mapping


def test_canonical_skeleton_is_plausible_adult():
    assert CANONICAL.num_joints == 22
    assert 1.6 < CANONICAL.height() < 1.8
    rest = CANONICAL.rest_positions()
    # left side is +Y, toes point forward (+X), head up
    assert rest[CANONICAL.index("left_wrist"), 1] > 0.6
    assert rest[CANONICAL.index("right_wrist"), 1] < -0.6
    assert rest[CANONICAL.index("left_toe"), 0] > rest[CANONICAL.index("left_ankle"), 0]
    assert set(CANONICAL.leaves) == {CANONICAL.index(n) for n in
                                     ("head_top", "left_toe", "right_toe", "left_wrist", "right_wrist")}


def test_skeleton_rejects_bad_topology():
    with pytest.raises(ValueError, match="topologically"):
        Skeleton(("a", "b"), (-1, 2), np.zeros((2, 3)))
    with pytest.raises(ValueError, match="unique"):
        Skeleton(("a", "a"), (-1, 0), np.zeros((2, 3)))


@pytest.mark.parametrize("name", sorted(JOINT_MAPPINGS))
def test_every_registered_mapping_keeps_the_contract(name):
    """Registered under its own name; distinct external names; each pair a real canonical joint and a real
    external point, neither used twice; approximations among the mapped joints; to/from canonical round trip."""
    mapping = JOINT_MAPPINGS[name]
    assert mapping.name == name and get_mapping(name) is mapping
    assert len(set(mapping.external_names)) == mapping.num_external
    canon, ext = [c for c, _ in mapping.pairs], mapping.external_indices()
    assert set(canon) <= set(CANONICAL.names) and len(set(canon)) == len(canon)
    assert len(set(ext.tolist())) == len(ext) and ((ext >= 0) & (ext < mapping.num_external)).all()
    assert set(mapping.approximate) <= set(canon)
    pts = np.random.default_rng(0).normal(size=(3, mapping.num_external, 2))
    conf = np.random.default_rng(1).uniform(0.1, 1.0, size=(3, mapping.num_external))
    points, weights = mapping.to_canonical(pts, conf)
    np.testing.assert_array_equal(mapping.from_canonical(points)[:, ext], pts[:, ext])
    np.testing.assert_array_equal(weights[:, mapping.canonical_indices()], conf[:, ext])
    assert np.isnan(np.delete(mapping.from_canonical(points), ext, axis=1)).all()  # unmapped points: NaN
    assert weights.sum() == pytest.approx(conf[:, ext].sum())  # unmapped canonical joints: confidence 0


def test_unknown_joint_set_lists_the_known_ones():
    with pytest.raises(ValueError, match="unknown joint set 'body26'; known: body25, body25b, cmu"):
        get_mapping("body26")


def test_openpose_mappings_pick_the_right_points():
    assert BODY_25.external_names[dict(BODY_25.pairs)["left_knee"]] == "LKnee"
    assert BODY_25.external_names[dict(BODY_25.pairs)["pelvis"]] == "MidHip"
    assert BODY_25B.external_names[dict(BODY_25B.pairs)["right_wrist"]] == "RWrist"
    assert BODY_25B.external_names[dict(BODY_25B.pairs)["head_top"]] == "Head"
    assert COCO_18.external_names[dict(COCO_18.pairs)["neck"]] == "Neck"


def test_h36m_mapping_is_the_expected_correspondence():
    canon, _ = H36M_17.to_canonical(np.arange(17 * 3, dtype=float).reshape(1, 17, 3))
    assert np.allclose(canon[0, CANONICAL.index("right_knee")], [6, 7, 8])  # H36M index 2 = RKnee
    assert np.allclose(canon[0, CANONICAL.index("head_top")], [30, 31, 32])  # index 10 = Head
    with pytest.raises(ValueError, match="expects 17"):
        COCO_17.to_canonical(np.zeros((1, 16, 2)))


def test_forward_kinematics_hand_computed():
    sk = Skeleton(("root", "a", "b"), (-1, 0, 1), np.array([[0, 0, 0], [0, 0, 1.0], [1.0, 0, 0]]))
    rot = identity_quat((1, 3))
    rot[0, 0] = axis_angle_to_quat(np.array([0, 0, np.pi / 2]))  # root yaw 90 deg
    rot[0, 1] = axis_angle_to_quat(np.array([0, -np.pi / 2, 0]))  # bend a: local x -> +z
    motion = Motion(sk, 10.0, np.array([[1.0, 2.0, 3.0]]), rot)
    assert np.allclose(motion.positions()[0], [[1, 2, 3], [1, 2, 4], [1, 2, 5]])
    world = motion.global_rotations()[0]
    assert np.allclose(quat_rotate(world[1], np.array([1.0, 0.0, 0.0])), [0, 0, 1])  # a's x axis points up
    assert np.allclose(quat_rotate(world[1], np.array([0.0, 1.0, 0.0])), [-1, 0, 0])  # its y axis, yawed


def test_forward_kinematics_torch_matches_numpy_and_is_differentiable():
    rng = np.random.default_rng(1)
    rot = quat_normalize(rng.normal(size=(4, CANONICAL.num_joints, 4)))
    root = rng.normal(size=(4, 3))
    ref = Motion(CANONICAL, 30.0, root, rot).positions()
    rot_t = torch.tensor(rot, requires_grad=True)
    out = forward_kinematics(CANONICAL.parents, CANONICAL.offsets, torch.tensor(root), rot_t)
    assert torch.allclose(out, torch.tensor(ref), atol=1e-12)
    out.sum().backward()
    assert torch.isfinite(rot_t.grad).all() and rot_t.grad.abs().sum() > 0


def test_forward_kinematics_of_torch_matrices_matches_numpy_quaternions():
    """The kinematic fit's path (rotation vectors -> roma matrices, torch) against Motion's (SciPy, numpy)."""
    rng = np.random.default_rng(0)
    rv, tr = rng.normal(size=(4, CANONICAL.num_joints, 3)), rng.normal(size=(4, 3))
    pos, world = forward_kinematics_matrices(CANONICAL.parents, torch.as_tensor(CANONICAL.offsets), torch.as_tensor(tr),
                                             roma.rotvec_to_rotmat(torch.as_tensor(rv)), return_global_rotations=True)
    ref, ref_world = forward_kinematics(CANONICAL.parents, CANONICAL.offsets, tr, axis_angle_to_quat(rv), True)
    np.testing.assert_allclose(pos.numpy(), ref, atol=1e-12)
    np.testing.assert_allclose(world.numpy(), quat_to_matrix(ref_world), atol=1e-12)


def test_bone_lengths_preserved_under_any_pose():
    rng = np.random.default_rng(2)
    m = Motion(CANONICAL, 30.0, rng.normal(size=(5, 3)), quat_normalize(rng.normal(size=(5, 22, 4))))
    pos = m.positions()
    parents = np.array(CANONICAL.parents[1:])
    lengths = np.linalg.norm(pos[:, 1:] - pos[:, parents], axis=-1)
    assert np.allclose(lengths, CANONICAL.bone_lengths()[1:])


def test_motion_validates_shapes_and_resamples():
    with pytest.raises(ValueError, match="rotations"):
        Motion(CANONICAL, 30.0, np.zeros((3, 3)), identity_quat((3, 5)))
    t = np.arange(31) / 30.0
    root = np.stack([t, 0 * t, 0 * t + 1], axis=1)
    m = Motion(CANONICAL, 30.0, root, identity_quat((31, 22)))
    r = m.resample(60.0)
    assert r.num_frames == 61 and np.allclose(r.root_translation[1, 0], 1 / 60)
    assert m.slice(0, None, 2).fps == 15.0
