"""Humanoid MJCF generation and Motion <-> qpos conversion."""

import mujoco
import numpy as np
import pytest

from phymo.data import CANONICAL, walking_motion
from phymo.physics.body import BodyConfig, build_body, motion_to_qpos, qpos_to_motion, qpos_to_qvel, site_positions
from phymo.physics.simulate import knot_matrix


@pytest.fixture(scope="module")
def body():
    return build_body(CANONICAL, BodyConfig(height=1.8, mass=80.0))


def test_model_layout(body):
    m = body.model
    hinged = [j for j in range(22) if CANONICAL.children(j)]
    assert m.nq == 7 + 3 * (len(hinged) - 1) and m.nv == m.nq - 1
    assert m.nu == 3 * (len(hinged) - 1) + 6  # joint motors + residual root
    assert np.isclose(m.body_subtreemass[1], 80.0, rtol=1e-4)
    assert body.skeleton.height() == pytest.approx(1.8)
    thigh, foot = m.body("left_hip").mass[0], m.body("left_ankle").mass[0]
    assert 0.12 < thigh / 80 < 0.16 and 0.01 < foot / 80 < 0.02
    assert np.all(m.jnt_limited[1:]) and np.all(m.actuator_ctrllimited)
    assert np.all(m.dof_armature[6:] > 0) and np.all(m.dof_damping[6:] > 0)


def test_motion_qpos_roundtrip_and_sites(body):
    motion = walking_motion(1.0, 30.0, skeleton=body.skeleton)
    qpos = motion_to_qpos(body, motion)
    sites = site_positions(body, qpos)
    np.testing.assert_allclose(sites, motion.positions(), atol=1e-5)
    back = qpos_to_motion(body, qpos, motion.fps)
    np.testing.assert_allclose(back.positions(), motion.positions(), atol=1e-9)


def test_qvel_by_differences(body):
    """Against a trajectory whose velocity is known in closed form, the free joint included: the root turns at a
    constant rate ``w`` about an axis fixed in the pelvis, from a tilted start, so in MuJoCo's tangent convention
    (linear velocity in the world frame, angular velocity in the body's) ``qvel[3:6]`` is ``w`` in every frame,
    while the world-frame rate, ``R(t) w``, is not; position and hinge angles are quadratic in time, which central
    differences take exactly (one-sided ones at the ends are off by half a step's acceleration)."""
    from scipy.spatial.transform import Rotation

    fps, frames = 60.0, 30
    t = np.arange(frames) / fps
    w, start = np.array([0.4, -1.3, 2.1]), Rotation.from_rotvec([0.5, -0.8, 0.3])  # rad/s in the pelvis frame
    turning = start * Rotation.from_rotvec(t[:, None] * w)
    v, a = np.array([1.1, -0.4, 0.2]), np.array([0.3, 0.5, -2.0])  # m/s, m/s^2
    hinge_rate, hinge_accel = np.linspace(-1.0, 1.0, body.nv - 6), np.linspace(0.5, -0.5, body.nv - 6)
    qpos = np.zeros((frames, body.model.nq))
    qpos[:, :3] = [0.0, 0.0, 1.0] + t[:, None] * v + 0.5 * t[:, None] ** 2 * a
    qpos[:, 3:7] = np.roll(turning.as_quat(), 1, axis=-1)  # MuJoCo's quaternions are w-first
    qpos[:, 7:] = 0.1 + t[:, None] * hinge_rate + 0.5 * t[:, None] ** 2 * hinge_accel
    qvel = qpos_to_qvel(body, qpos, 1.0 / fps)
    rate = np.concatenate([[t[0] + 0.5 / fps], t[1:-1], [t[-1] - 0.5 / fps]])[:, None]  # where each difference is
    np.testing.assert_allclose(qvel[:, :3], v + rate * a, atol=1e-9)
    np.testing.assert_allclose(qvel[:, 3:6], np.broadcast_to(w, (frames, 3)), atol=1e-9)
    np.testing.assert_allclose(qvel[:, 6:], hinge_rate + rate * hinge_accel, atol=1e-9)
    assert np.abs(turning.apply(w) - w).max() > 0.5  # a world-frame angular velocity would fail the check


def test_knot_matrix_interpolates_and_holds():
    w = knot_matrix(5, 4, knot_every=2, interp="linear")
    assert w.shape == (16, 3) and np.allclose(w.sum(1), 1.0)
    assert np.allclose(w[0], [1, 0, 0]) and np.allclose(w[4], [0.5, 0.5, 0])
    h = knot_matrix(5, 4, knot_every=2, interp="hold")
    assert np.allclose(h[7], [1, 0, 0]) and np.allclose(h[8], [0, 1, 0])


@pytest.mark.parametrize("pitch", [-0.3, 0.25])
def test_fitted_foot_stands_flat_in_the_motions_stance_pose(pitch):
    """A motion standing with its ankles rotated away from the rest pose gets a foot box that is level
    and on the ground in that pose (a rest-pose box would stand on an edge)."""
    from phymo.data import Motion, axis_angle_to_quat, identity_quat
    from phymo.physics.fit import estimate_foot, fitted_body

    rot = identity_quat((10, CANONICAL.num_joints))
    for side in ("left", "right"):
        rot[:, CANONICAL.index(f"{side}_ankle")] = axis_angle_to_quat(np.array([0.0, pitch, 0.0]))
    motion = Motion(CANONICAL, 30.0, np.zeros((10, 3)), rot)
    toes = [CANONICAL.index("left_toe"), CANONICAL.index("right_toe")]
    clearance = 0.012
    motion = Motion(CANONICAL, 30.0, np.array([0.0, 0.0, clearance - motion.positions()[0, toes, 2].min()])
                    + np.zeros((10, 3)), rot)
    sole, ankle = estimate_foot(motion)
    assert sole == pytest.approx(clearance)
    assert ankle == pytest.approx(motion.positions()[0, CANONICAL.index("left_ankle"), 2])
    body = fitted_body(motion, fit_ankle=True)
    assert fitted_body(motion).config.ankle_height is None  # opt-in
    np.testing.assert_allclose(body.foot_heights(), motion.positions()[0, body.foot_sites(), 2], atol=1e-6)
    d = mujoco.MjData(body.model)
    d.qpos[:] = motion_to_qpos(body, motion)[0]
    mujoco.mj_kinematics(body.model, d)
    for side in ("left", "right"):
        g = body.model.geom(f"{side}_ankle_foot").id
        assert d.geom_xmat[g].reshape(3, 3)[:, 2] @ [0, 0, 1] > np.cos(np.radians(0.1))  # level
        assert d.geom_xpos[g][2] - body.model.geom_size[g][2] == pytest.approx(0.0, abs=1e-5)  # on the ground
    rest = build_body(CANONICAL, BodyConfig(sole_clearance=clearance))
    d = mujoco.MjData(rest.model)
    d.qpos[:] = motion_to_qpos(rest, motion)[0]
    mujoco.mj_kinematics(rest.model, d)
    tilt = np.degrees(np.arccos(d.geom_xmat[rest.model.geom("left_ankle_foot").id].reshape(3, 3)[2, 2]))
    assert tilt == pytest.approx(np.degrees(abs(pitch)), abs=0.1)  # the rest-pose box is tilted by the pitch


def test_unreachable_ankle_height_is_a_clear_error():
    with pytest.raises(ValueError, match="ankle_height must lie between sole_clearance"):
        build_body(CANONICAL, BodyConfig(sole_clearance=0.02, ankle_height=0.01))  # ankle below the toe
    with pytest.raises(ValueError, match="ankle_height must lie between sole_clearance"):
        build_body(CANONICAL, BodyConfig(sole_clearance=0.02, ankle_height=0.5))  # beyond the foot's length
