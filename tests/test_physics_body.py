"""The servoed humanoid: layout, servo gains, rounded feet, Motion <-> qpos, the control grid."""

import mujoco
import numpy as np
import pytest

from phymo.data import CANONICAL, walking_motion
from phymo.physics import HINGE_DOF, HINGE_QPOS, NUM_RESIDUAL, BodyConfig, ControlGrid, ServoConfig
from phymo.physics.body import build_body, motion_to_qpos, qpos_to_motion, qpos_to_qvel, site_positions


@pytest.fixture(scope="module")
def body():
    return build_body(CANONICAL, BodyConfig(height=1.8, mass=80.0))


def test_model_layout(body):
    m = body.model
    hinged = [j for j in range(22) if CANONICAL.children(j)]
    assert m.nq == 7 + 3 * (len(hinged) - 1) and m.nv == m.nq - 1
    assert body.num_hinges == m.nv - 6 and m.nu == body.num_hinges + NUM_RESIDUAL
    assert m.opt.integrator == mujoco.mjtIntegrator.mjINT_IMPLICITFAST
    assert np.isclose(m.body_subtreemass[1], 80.0, rtol=1e-4)
    assert body.skeleton.height() == pytest.approx(1.8)
    thigh, foot = m.body("left_hip").mass[0], m.body("left_ankle").mass[0]
    assert 0.12 < thigh / 80 < 0.16 and 0.01 < foot / 80 < 0.02
    servo = slice(0, body.num_hinges)
    assert np.all(m.actuator_biastype[servo] == mujoco.mjtBias.mjBIAS_AFFINE)  # position servos
    np.testing.assert_allclose(m.actuator_gainprm[servo, 0], body.kp)
    np.testing.assert_allclose(m.actuator_biasprm[servo, 1:3], -np.stack([body.kp, body.kv], axis=1))
    assert np.all(m.actuator_forcelimited[servo]) and np.all(m.actuator_ctrllimited[body.num_hinges:])
    np.testing.assert_array_equal(m.actuator_trnid[servo, 0], np.arange(1, body.num_hinges + 1))  # hinge i, dof 6+i
    feet = [m.geom(g) for g in range(m.ngeom) if m.body(m.geom_bodyid[g]).name.endswith("_ankle")]
    assert len(feet) == 4 and all(g.type == mujoco.mjtGeom.mjGEOM_CAPSULE for g in feet)  # two per foot


def test_servo_gains_place_every_hinge_at_the_asked_frequency():
    """kp = I w^2 and kv = 2 zeta I w with I the hinge's effective inertia: in the body floating freely
    (no gravity, no contact) a small step of one hinge's target is followed like a critically damped
    oscillator of that frequency: about 86 % of the way after 1/f... checked against the closed form."""
    f = 8.0
    body = build_body(CANONICAL, servo=ServoConfig(frequency=f), timestep=1e-4)
    m = body.model
    m.opt.gravity[:] = 0
    m.opt.disableflags |= mujoco.mjtDisableBit.mjDSBL_CONTACT
    m.dof_damping[:] = 0
    d = mujoco.MjData(m)
    knee = body.actuator_names.index("left_knee_y")
    d.qpos[2] = 2.0
    mujoco.mj_forward(m, d)
    target = d.qpos[7 + knee] + 0.01
    d.ctrl[:body.num_hinges] = d.qpos[HINGE_QPOS]
    d.ctrl[knee] = target
    w, t = 2 * np.pi * f, 1.0 / f
    for _ in range(round(t / m.opt.timestep)):
        mujoco.mj_step(m, d)
    reached = (d.qpos[7 + knee] - (target - 0.01)) / 0.01
    expected = 1 - (1 + w * t) * np.exp(-w * t)  # critically damped step response at time t
    assert reached == pytest.approx(expected, abs=0.03)
    assert m.dof_armature[HINGE_DOF][knee] > 0


def test_motion_qpos_roundtrip_and_sites(body):
    motion = walking_motion(1.0, 30.0, skeleton=body.skeleton)
    qpos = motion_to_qpos(body, motion)
    sites = site_positions(body, qpos)
    np.testing.assert_allclose(sites, motion.positions(), atol=1e-5)
    back = qpos_to_motion(body, qpos, motion.fps)
    np.testing.assert_allclose(back.positions(), motion.positions(), atol=1e-9)


def test_hinge_angles_do_not_jump_by_a_turn(body):
    """A joint turning past 180 degrees about its first Euler axis (the shoulder's x) keeps a continuous angle
    instead of wrapping from pi to -pi (servo targets interpolate between frames)."""
    from phymo.data import Motion, axis_angle_to_quat, identity_quat

    rot = identity_quat((40, CANONICAL.num_joints))
    angle = np.linspace(0, 1.5 * np.pi, 40)
    rot[:, CANONICAL.index("left_shoulder")] = axis_angle_to_quat(angle[:, None] * [1.0, 0.0, 0.0])
    q = motion_to_qpos(body, Motion(CANONICAL, 30.0, np.zeros((40, 3)), rot))
    assert np.abs(np.diff(q[:, HINGE_QPOS], axis=0)).max() < 0.5


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


def test_control_grid_interpolates_knots_at_the_end_of_each_step():
    grid = ControlGrid(3, 4)
    assert grid.W.shape == (8, 3) and np.allclose(grid.W.sum(1), 1.0)
    assert np.allclose(grid.W[0], [0.75, 0.25, 0]) and np.allclose(grid.W[3], [0, 1, 0])
    assert np.allclose(grid.W[7], [0, 0, 1])
    knots = np.random.default_rng(0).normal(size=(3, 5))
    g = np.random.default_rng(1).normal(size=(8, 5))
    assert np.sum(grid.expand(knots) * g) == pytest.approx(np.sum(knots * grid.reduce(g)))  # reduce = W^T


@pytest.mark.parametrize("pitch", [-0.3, 0.25])
def test_fitted_foot_stands_flat_in_the_motions_stance_pose(pitch):
    """A motion standing with its ankles rotated away from the rest pose gets feet whose two sole capsules are
    level and on the ground in that pose (feet built for the rest pose would stand on their heels or toes)."""
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

    def lowest_points(b):
        d = mujoco.MjData(b.model)
        d.qpos[:] = motion_to_qpos(b, motion)[0]
        mujoco.mj_kinematics(b.model, d)
        out = []
        for g in range(b.model.ngeom):
            if b.model.geom(g).name.startswith("left_ankle_sole"):
                axis, half = d.geom_xmat[g].reshape(3, 3)[:, 2], b.model.geom_size[g][1]
                ends = d.geom_xpos[g] + np.outer([-half, half], axis)
                out.append(ends[:, 2] - b.model.geom_size[g][0])
        return np.concatenate(out)

    np.testing.assert_allclose(lowest_points(body), 0.0, atol=1e-5)  # heels and toes level, on the ground
    rest = lowest_points(build_body(CANONICAL, BodyConfig(sole_clearance=clearance)))
    assert np.ptp(rest) > 0.02  # the rest-pose foot, pitched by the ankle, rests on its heel or its toes


def test_unreachable_ankle_height_is_a_clear_error():
    with pytest.raises(ValueError, match="ankle_height must lie between sole_clearance"):
        build_body(CANONICAL, BodyConfig(sole_clearance=0.02, ankle_height=0.01))  # ankle below the toe
    with pytest.raises(ValueError, match="ankle_height must lie between sole_clearance"):
        build_body(CANONICAL, BodyConfig(sole_clearance=0.02, ankle_height=0.5))  # beyond the foot's length
