import numpy as np
import pytest
import roma
import torch

from phymo.data.rotations import (
    axis_angle_to_quat,
    euler_to_quat,
    identity_quat,
    matrix_to_quat,
    quat_conj,
    quat_mul,
    quat_normalize,
    quat_rotate,
    quat_slerp,
    quat_to_axis_angle,
    quat_to_euler,
    quat_to_matrix,
)

ORDERS = ["XYZ", "XZY", "YXZ", "YZX", "ZXY", "ZYX"]


def _random_quats(n, seed=0):
    return quat_normalize(np.random.default_rng(seed).normal(size=(n, 4)))


def test_matrix_agrees_with_roma():
    q = torch.tensor(_random_quats(64))
    ours = quat_to_matrix(q)
    theirs = roma.unitquat_to_rotmat(q[:, [1, 2, 3, 0]])  # roma is x, y, z, w
    assert torch.allclose(ours, theirs, atol=1e-12)


def test_quat_matrix_round_trip_numpy_and_torch():
    q = _random_quats(64)
    assert np.allclose(matrix_to_quat(quat_to_matrix(q)), q, atol=1e-12)
    qt = torch.tensor(q)
    assert torch.allclose(matrix_to_quat(quat_to_matrix(qt)), qt, atol=1e-12)


def test_rotate_matches_matrix_and_composition_order():
    a, b = _random_quats(16, 1), _random_quats(16, 2)
    v = np.random.default_rng(3).normal(size=(16, 3))
    assert np.allclose(quat_rotate(a, v), np.einsum("nij,nj->ni", quat_to_matrix(a), v))
    # a * b applies b first
    assert np.allclose(quat_rotate(quat_mul(a, b), v), quat_rotate(a, quat_rotate(b, v)))
    assert np.allclose(quat_mul(a, quat_conj(a)), identity_quat((16,)), atol=1e-12)


def test_axis_angle_known_rotation_and_round_trip():
    q = axis_angle_to_quat(np.array([0.0, 0.0, np.pi / 2]))
    assert np.allclose(quat_rotate(q, np.array([1.0, 0.0, 0.0])), [0.0, 1.0, 0.0])
    q = _random_quats(32)
    assert np.allclose(axis_angle_to_quat(quat_to_axis_angle(q)), q, atol=1e-12)


def test_axis_angle_gradient_finite_at_zero():
    r = torch.zeros(3, dtype=torch.float64, requires_grad=True)
    axis_angle_to_quat(r).sum().backward()
    assert torch.isfinite(r.grad).all()


@pytest.mark.parametrize("order", ORDERS)
def test_euler_is_intrinsic_product_and_round_trips(order):
    angles = np.random.default_rng(4).uniform(-1.2, 1.2, size=(20, 3))
    q = euler_to_quat(angles, order)
    basis = {"X": 0, "Y": 1, "Z": 2}
    expected = np.tile(np.eye(3), (20, 1, 1))
    for i, axis in enumerate(order):
        rv = np.zeros((20, 3))
        rv[:, basis[axis]] = angles[:, i]
        expected = expected @ quat_to_matrix(axis_angle_to_quat(rv))
    assert np.allclose(quat_to_matrix(q), expected, atol=1e-12)
    assert np.allclose(quat_to_euler(q, order), angles, atol=1e-10)


def test_bad_euler_order_is_rejected():
    with pytest.raises(ValueError, match="Euler order"):
        euler_to_quat(np.zeros(3), "XXW")


def test_slerp_halfway():
    a = identity_quat()
    b = axis_angle_to_quat(np.array([0.0, 0.0, 1.0]))
    mid = quat_slerp(a, b, 0.5)
    assert np.allclose(quat_to_axis_angle(mid), [0.0, 0.0, 0.5])
