"""The joint-range table: its documented directions, the mirrored right side, and both of its users."""

import numpy as np
import pytest

from phymo.data import CANONICAL, Motion, axis_angle_to_quat, identity_quat
from phymo.data.joint_limits import JOINT_RANGES, joint_range, joint_ranges

S = CANONICAL


def _moved(joint: str, rotvec, child: str) -> np.ndarray:
    """Displacement of ``child`` when ``joint`` alone turns by ``rotvec`` from the rest pose."""
    rot = identity_quat((1, S.num_joints))
    rot[0, S.index(joint)] = axis_angle_to_quat(np.asarray(rotvec, dtype=np.float64))
    pos = Motion(S, 30.0, np.zeros((1, 3)), rot).positions()[0]
    return pos[S.index(child)] - S.rest_positions()[S.index(child)]


@pytest.mark.parametrize("joint, axis, sign, child, direction", [
    ("spine", 1, 1, "neck", (1, 0, 0)),  # + bends forward
    ("left_hip", 1, -1, "left_knee", (1, 0, 0)),  # - lifts the thigh forward
    ("left_hip", 0, 1, "left_knee", (0, 1, 0)),  # + takes the left thigh outward
    ("left_knee", 1, 1, "left_ankle", (-1, 0, 0)),  # + bends: the shank goes back
    ("left_ankle", 1, 1, "left_toe", (0, 0, -1)),  # + points the toes down
    ("left_shoulder", 0, -1, "left_elbow", (0, 0, -1)),  # - lowers the arm
    ("left_elbow", 2, -1, "left_wrist", (1, 0, 0)),  # - flexes: the forearm comes forward
])
def test_documented_directions_hold_and_their_range_is_the_larger(joint, axis, sign, child, direction):
    lim = joint_range(joint)[axis]
    move = _moved(joint, sign * 0.3 * np.eye(3)[axis], child)
    assert move @ np.asarray(direction) > 0.5 * np.linalg.norm(move)
    assert abs(lim[(sign + 1) // 2]) >= abs(lim[(1 - sign) // 2])  # anatomy: that way goes further


@pytest.mark.parametrize("kind", ["hip", "knee", "ankle", "collar", "shoulder", "elbow"])
def test_right_side_is_the_mirror_image_of_the_left(kind):
    """A left pose inside its range, mirrored through the x-z plane, is a right pose inside the right range,
    and the right limb lands on the mirror image of the left one."""
    left, right = joint_range(f"left_{kind}"), joint_range(f"right_{kind}")
    np.testing.assert_allclose(right[1], left[1])
    np.testing.assert_allclose(right[[0, 2]], -left[[0, 2], ::-1])
    rng = np.random.default_rng(0)
    rv = rng.uniform(left[:, 0], left[:, 1], size=(20, 3))
    mirrored = rv * np.array([-1.0, 1.0, -1.0])
    assert ((mirrored >= right[:, 0]) & (mirrored <= right[:, 1])).all()
    child = S.names[S.children(S.index(f"left_{kind}"))[0]].removeprefix("left_")
    for r, m in zip(rv[:3], mirrored[:3], strict=True):
        np.testing.assert_allclose(_moved(f"right_{kind}", m, f"right_{child}"),
                                   _moved(f"left_{kind}", r, f"left_{child}") * [1, -1, 1], atol=1e-12)


def test_every_moving_joint_has_a_range_around_its_rest_pose():
    lim = joint_ranges(S)
    for j, name in enumerate(S.names):
        moves = j > 0 and bool(S.children(j))
        assert np.isfinite(lim[j]).all() == moves, name
        if moves:
            assert (lim[j, :, 0] < 0).all() and (lim[j, :, 1] > 0).all(), name
    assert set(JOINT_RANGES) == {n.removeprefix("left_") for n in S.names[1:] if S.children(S.index(n))
                                 and not n.startswith("right_")}


def test_the_simulators_hinges_use_the_table():
    from phymo.physics.body import build_body

    model = build_body(S).model
    for jid in range(1, model.njnt):  # 0 is the free root
        name, axis = model.joint(jid).name.rsplit("_", 1)
        np.testing.assert_allclose(model.jnt_range[jid], joint_range(name)["xyz".index(axis)], atol=1e-9)
