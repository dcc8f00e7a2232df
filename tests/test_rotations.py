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
    swing,
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


FUNCTIONS = {
    "quat_normalize": (quat_normalize, lambda r: (r.normal(size=(5, 3, 4)),)),
    "quat_conj": (quat_conj, lambda r: (_random_quats(15, 5).reshape(5, 3, 4),)),
    "quat_mul": (quat_mul, lambda r: (_random_quats(15, 6).reshape(5, 3, 4), _random_quats(3, 7))),
    "quat_rotate": (quat_rotate, lambda r: (_random_quats(15, 8).reshape(5, 3, 4), r.normal(size=(3, 3)))),
    "quat_to_matrix": (quat_to_matrix, lambda r: (_random_quats(15, 9).reshape(5, 3, 4),)),
    "matrix_to_quat": (matrix_to_quat, lambda r: (quat_to_matrix(_random_quats(15, 10)).reshape(5, 3, 3, 3),)),
    "axis_angle_to_quat": (axis_angle_to_quat, lambda r: (r.normal(size=(5, 3, 3)),)),
    "quat_to_axis_angle": (quat_to_axis_angle, lambda r: (_random_quats(15, 11).reshape(5, 3, 4),)),
    "euler_to_quat": (lambda a: euler_to_quat(a, "YXZ"), lambda r: (r.uniform(-3, 3, size=(5, 3, 3)),)),
    "quat_to_euler": (lambda q: quat_to_euler(q, "XZY"), lambda r: (_random_quats(15, 12).reshape(5, 3, 4),)),
}


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_torch_through_roma_agrees_with_numpy_through_scipy(name):
    """Two libraries, two conversions to their x, y, z, w layout: the same w-first answers, batch shapes kept."""
    fn, make = FUNCTIONS[name]
    args = make(np.random.default_rng(0))
    ours = fn(*args)
    theirs = fn(*(torch.tensor(a) for a in args))
    assert isinstance(theirs, torch.Tensor) and theirs.shape == ours.shape
    np.testing.assert_allclose(theirs.numpy(), ours, atol=1e-12)


@pytest.mark.parametrize("axis", [0, 1, 2])
def test_quarter_turn_about_each_axis_lands_on_the_next_axis(axis):
    """90 deg about x takes y to z, about y takes z to x, about z takes x to y (right-handed, active)."""
    e = np.eye(3)
    src, dst = e[(axis + 1) % 3], e[(axis + 2) % 3]
    q = axis_angle_to_quat(np.pi / 2 * e[axis])
    assert np.allclose(q, [np.sqrt(0.5), *(np.sqrt(0.5) * e[axis])])  # w first
    assert np.allclose(quat_rotate(q, src), dst, atol=1e-12)
    assert np.allclose(quat_to_matrix(q) @ src, dst, atol=1e-12)
    for order in ORDERS:  # the same turn as the Euler angle of that axis alone, in any order
        angles = np.zeros(3)
        angles[order.index("XYZ"[axis])] = np.pi / 2
        assert np.allclose(quat_rotate(euler_to_quat(angles, order), src), dst, atol=1e-12)


def test_normalize_picks_the_w_positive_hemisphere_and_unit_length():
    q = np.random.default_rng(5).normal(size=(50, 4)) * 3
    n = quat_normalize(q)
    assert np.allclose(np.linalg.norm(n, axis=-1), 1) and (n[:, 0] >= 0).all()
    assert np.allclose(np.abs(np.sum(n * q, axis=-1)), np.linalg.norm(q, axis=-1))  # +-q / |q|


def test_slerp_agrees_with_roma_along_the_short_arc():
    a, b = _random_quats(20, 13), _random_quats(20, 14)
    t = np.linspace(0, 1, 20)[:, None]
    theirs = roma.unitquat_slerp(torch.tensor(a[:, [1, 2, 3, 0]]), torch.tensor(b[:, [1, 2, 3, 0]]),
                                 torch.tensor(t[:, 0]))  # (steps, batch, 4), x, y, z, w
    expected = quat_normalize(theirs[np.arange(20), np.arange(20)][:, [3, 0, 1, 2]].numpy())
    assert np.allclose(quat_slerp(a, b, t), expected, atol=1e-12)


def test_swing_is_the_smallest_rotation_onto_the_target():
    rng = np.random.default_rng(15)
    a, b = rng.normal(size=(100, 3)), rng.normal(size=(100, 3)) * 5
    q = swing(a, b)
    ua, ub = a / np.linalg.norm(a, axis=-1, keepdims=True), b / np.linalg.norm(b, axis=-1, keepdims=True)
    assert np.allclose(quat_rotate(q, ua), ub, atol=1e-12)
    angle = np.linalg.norm(quat_to_axis_angle(q), axis=-1)
    assert np.allclose(angle, np.arccos(np.clip(np.sum(ua * ub, axis=-1), -1, 1)), atol=1e-7)
    assert np.allclose(quat_rotate(q, np.cross(ua, ub)), np.cross(ua, ub), atol=1e-12)  # the axis stays put
    flipped = swing(np.array([[0.0, 0.0, -1.0], [1.0, 0.0, 0.0]]), np.array([[0.0, 0.0, 2.0], [-3.0, 0.0, 0.0]]))
    assert np.allclose(quat_rotate(flipped, np.array([[0.0, 0.0, -1.0], [1.0, 0.0, 0.0]])), [[0, 0, 1], [-1, 0, 0]])
    assert np.allclose(swing(np.zeros(3), np.array([0.0, 1.0, 0.0])), [1, 0, 0, 0])
