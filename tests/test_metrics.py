import numpy as np
import pytest

from phymo.data import CANONICAL, Motion, axis_angle_to_quat, identity_quat, metrics, quat_to_matrix


def _pose(rng, t=5, j=17):
    return rng.normal(size=(t, j, 3))


def test_offset_of_10mm_gives_10mm_global_and_0_root_aligned():
    gt = _pose(np.random.default_rng(0))
    pred = gt + np.array([0.006, 0.0, 0.008])  # 10 mm
    assert metrics.mpjpe_global(pred, gt) * 1000 == pytest.approx(10.0)
    assert metrics.mpjpe(pred, gt) == pytest.approx(0.0, abs=1e-12)


def test_mpjpe_one_joint_off():
    gt = np.zeros((2, 4, 3))
    pred = gt.copy()
    pred[:, 3] = [0.0, 0.04, 0.0]  # one joint of four off by 40 mm -> 10 mm mean
    assert metrics.mpjpe(pred, gt) == pytest.approx(0.010)
    np.testing.assert_allclose(metrics.mpjpe(pred, gt, per_frame=True), [0.010, 0.010])
    pred[:, 0] = [0.0, 0.04, 0.0]  # root off too: after alignment joints 1 and 2 are 40 mm off, 3 is exact
    assert metrics.mpjpe(pred, gt) == pytest.approx(0.02)


def test_pa_mpjpe_of_similarity_copy_is_zero_but_not_of_reflection():
    rng = np.random.default_rng(1)
    gt = _pose(rng)
    rot = quat_to_matrix(axis_angle_to_quat(rng.normal(size=(5, 3))))
    pred = 1.7 * np.einsum("tij,tkj->tki", rot, gt) + rng.normal(size=(5, 1, 3))
    assert metrics.mpjpe(pred, gt) > 0.1
    assert metrics.pa_mpjpe(pred, gt) == pytest.approx(0.0, abs=1e-9)
    mirrored = gt * np.array([-1.0, 1.0, 1.0])
    assert metrics.pa_mpjpe(mirrored, gt) > 0.05


def test_pa_mpjpe_hand_computed():
    # Square vs. a square with one corner pushed out: alignment cannot remove the distortion.
    gt = np.array([[[1.0, 0, 0], [0, 1, 0], [-1, 0, 0], [0, -1, 0]]])
    pred = gt.copy()
    pred[0, 0, 0] = 2.0
    aligned = metrics.procrustes_align(pred, gt)
    # symmetric about the x axis, so the rotation is the identity; centroid shift and scale are closed form
    p = pred[0] - pred[0].mean(0)
    g = gt[0] - gt[0].mean(0)
    s = (p * g).sum() / (p * p).sum()
    np.testing.assert_allclose(aligned[0], s * p + gt[0].mean(0), atol=1e-12)
    # Procrustes minimises the squared error, so the aligned sum of squares is no larger
    assert ((aligned - gt) ** 2).sum() < ((pred - gt) ** 2).sum()


def test_first_aligned_mpjpe_removes_one_rigid_motion_not_drift_or_scale():
    rng = np.random.default_rng(2)
    gt = _pose(rng, t=6)
    rot = quat_to_matrix(axis_angle_to_quat(np.array([0.3, -0.2, 1.0])))
    pred = gt @ rot.T + np.array([2.0, -1.0, 0.5])  # the same motion in another world frame
    assert metrics.mpjpe_first_aligned(pred, gt) == pytest.approx(0.0, abs=1e-9)
    drift = pred + np.arange(6)[:, None, None] * np.array([0.0, 0.0, 0.01])  # 10 mm more each frame
    drifted = metrics.mpjpe_first_aligned(drift, gt, frames=1, per_frame=True)  # frame 0 fixes the alignment
    np.testing.assert_allclose(drifted, 0.01 * np.arange(6), atol=1e-9)
    assert metrics.mpjpe_first_aligned(1.1 * pred, gt) > 0.01  # no scale in the alignment
    assert metrics.mpjpe_first_aligned(pred * np.array([-1.0, 1.0, 1.0]), gt) > 0.05  # nor a reflection
    with pytest.raises(ValueError):
        metrics.mpjpe_first_aligned(pred, gt, frames=7)


def test_reprojection_error_ignores_invisible():
    gt = np.zeros((1, 3, 2))
    pred = np.array([[[3.0, 4.0], [0.0, 0.0], [100.0, 0.0]]])
    assert metrics.reprojection_error_px(pred, gt, np.array([[1.0, 1.0, 0.0]])) == pytest.approx(2.5)
    assert metrics.reprojection_error_px(pred, gt) == pytest.approx(35.0)
    assert np.isnan(metrics.reprojection_error_px(pred, gt, np.zeros((1, 3))))


def test_acceleration_error_of_quadratic():
    t = np.arange(10, dtype=float)
    gt = np.zeros((10, 2, 3))
    pred = gt.copy()
    pred[:, :, 0] = 0.5 * 0.004 * t[:, None] ** 2  # constant acceleration 4 mm/frame^2
    assert metrics.acceleration_error(pred, gt) == pytest.approx(0.004)
    assert metrics.acceleration_error(pred, gt, fps=50) == pytest.approx(0.004 * 2500)
    assert metrics.acceleration_error(pred + 0.3 * t[:, None, None], gt + 0.1) == pytest.approx(0.004)


def test_jitter_of_constant_acceleration():
    t = np.arange(6, dtype=float) / 25.0
    pos = np.zeros((6, 3, 3))
    pos[:, :, 2] = -0.5 * 9.81 * t[:, None] ** 2  # free fall
    assert metrics.jitter(pos, 25.0) == pytest.approx(9.81)
    assert metrics.jitter(pos + 0.7 * t[:, None, None], 25.0) == pytest.approx(9.81)  # constant velocity adds 0


def test_foot_skating_hand_made():
    fps = 10.0
    pos = np.zeros((5, 2, 3))
    # foot 0 on the ground sliding 5 cm/frame (0.5 m/s) in frames 0..2, then lifted
    pos[:, 0, 0] = [0.0, 0.05, 0.10, 0.10, 0.10]
    pos[:, 0, 2] = [0.0, 0.0, 0.0, 0.3, 0.3]
    # foot 1 planted, 1 cm/frame creep (0.1 m/s, below threshold)
    pos[:, 1, 1] = [0.0, 0.01, 0.02, 0.03, 0.04]
    pos[:, 1, 2] = 0.02
    res = metrics.foot_skating(pos, fps, [0, 1], contact_height=0.05, speed_threshold=0.2)
    assert res.skating_ratio == pytest.approx(2 / 4)  # transitions 0->1 and 1->2
    # contact pairs: foot0 two transitions at 0.5 m/s, foot1 four at 0.1 m/s
    assert res.mean_slide_speed == pytest.approx((2 * 0.5 + 4 * 0.1) / 6)
    assert res.contact_ratio == pytest.approx(6 / 8)
    lifted = metrics.foot_skating(pos, fps, [0, 1], contact_height=0.01)
    assert lifted.skating_ratio == pytest.approx(2 / 4) and lifted.contact_ratio == pytest.approx(2 / 8)
    assert metrics.foot_skating(pos, fps, [0, 1], contact_height=(0.05, 0.01)).contact_ratio == pytest.approx(2 / 8)


def test_penetration_hand_made():
    pos = np.zeros((4, 3, 3))
    pos[:, :, 2] = 0.5
    pos[1, 0, 2] = -0.02
    pos[1, 2, 2] = -0.04
    pos[3, 1, 2] = -0.01
    res = metrics.penetration(pos)
    assert res.max_depth == pytest.approx(0.04)
    assert res.mean_depth == pytest.approx((0.04 + 0.01) / 4)
    assert res.frame_ratio == pytest.approx(0.5)
    only0 = metrics.penetration(pos, [0])
    assert (only0.max_depth, only0.frame_ratio) == pytest.approx((0.02, 0.25))
    assert metrics.penetration(pos, ground_z=-1.0).max_depth == 0.0


def test_protocol_by_action_pools_frames_then_averages_actions():
    res = metrics.protocol_by_action([
        ("Walking", np.array([1.0, 1.0, 1.0])),
        ("Walking", np.array([5.0])),
        ("Eating", np.array([10.0, 20.0])),
    ])
    assert res.per_action == {"Eating": 15.0, "Walking": 2.0}
    assert res.mean == pytest.approx(8.5)
    with pytest.raises(ValueError):
        metrics.protocol_by_action([])


def test_shape_mismatch_raises():
    with pytest.raises(ValueError, match="shapes differ"):
        metrics.mpjpe(np.zeros((2, 3, 3)), np.zeros((2, 4, 3)))
    with pytest.raises(ValueError, match="3 frames"):
        metrics.acceleration_error(np.zeros((2, 3, 3)), np.zeros((2, 3, 3)))


def test_slide_is_measured_on_feet_in_contact_not_on_the_swinging_foot():
    """The left foot swings forward 4 m/s above the ground; the right foot, on the ground, slides 0.1 m/s.
    The plotted slide is the right foot's (the old plot took the fastest foot joint)."""
    t, fps = 10, 30.0
    rotations = identity_quat((t, CANONICAL.num_joints))
    root = np.zeros((t, 3))
    root[:, 2] = -CANONICAL.rest_positions()[:, 2].min()  # toes on the floor
    standing = Motion(CANONICAL, fps, root, rotations).positions()
    right = [CANONICAL.index(n) for n in ("right_ankle", "right_toe")]
    left = [CANONICAL.index(n) for n in ("left_ankle", "left_toe")]
    positions = standing.copy()
    positions[:, right, 0] += 0.1 * np.arange(t)[:, None] / fps
    positions[:, left, 0] += 4.0 * np.arange(t)[:, None] / fps
    positions[:, left, 2] += 0.3

    slide = metrics.plausibility_per_frame(positions, fps, CANONICAL.names)["slide of feet in contact (m/s)"]
    assert np.isnan(slide[0]) and np.allclose(slide[1:], 0.1)


def _standing(t=4, lift=0.0):
    """The canonical rest pose with its toes on the floor, raised by ``lift`` metres."""
    root = np.zeros((t, 3))
    root[:, 2] = -CANONICAL.rest_positions()[:, 2].min() + lift
    return Motion(CANONICAL, 30.0, root, identity_quat((t, CANONICAL.num_joints))).positions()


def test_floating_is_the_lowest_foot_point_above_the_ground():
    rest = CANONICAL.rest_positions()[:, 2]
    standing = [rest[CANONICAL.index(n)] - rest.min() for n in metrics.FOOT_JOINTS]  # this skeleton standing flat
    p = metrics.plausibility(_standing(lift=0.05), 30.0, CANONICAL.names, standing_heights=standing)
    assert p.floating_mm == pytest.approx(50.0) and p.penetration_mm == 0.0
    sunk = metrics.plausibility(_standing(lift=-0.02), 30.0, CANONICAL.names, standing_heights=standing)
    assert sunk.floating_mm == 0.0 and sunk.penetration_max_mm == pytest.approx(20.0)
    # the standing heights count: with the soles 3 cm below the toe joints it floats 3 cm less
    lowered = metrics.plausibility(_standing(lift=0.05), 30.0, CANONICAL.names,
                                   standing_heights=np.asarray(standing) + 0.03)
    assert lowered.floating_mm == pytest.approx(20.0)


def test_residual_force_is_reported_against_body_weight_on_simulated_frames():
    force = np.array([100.0, np.nan, 300.0, 200.0])  # NaN: a frame that fell back, not simulated
    p = metrics.plausibility(_standing(), 30.0, CANONICAL.names, residual_force=force, body_weight_n=1000.0)
    assert p.residual_force_n == pytest.approx(200.0) and p.residual_share == pytest.approx(0.2)
    assert p.residual_force_p95_n == pytest.approx(np.percentile([100.0, 300.0, 200.0], 95))
    kinematic = metrics.plausibility(_standing(), 30.0, CANONICAL.names)
    assert kinematic.residual_force_n is None and kinematic.residual_share is None


def test_foot_contact_is_one_definition_for_skating_and_contacts():
    fc = metrics.FOOT_CONTACT
    pos = _standing(t=3)
    feet = [CANONICAL.index(n) for n in metrics.FOOT_JOINTS]
    assert fc.in_contact(pos[:, feet], metrics.FOOT_JOINTS).all()
    sliding = pos.copy()
    sliding[:, feet, 0] += (fc.slide_speed * 1.5 / 30.0) * np.arange(3)[:, None]
    assert metrics.plausibility(sliding, 30.0, CANONICAL.names).foot_skating == 1.0
    slow = pos.copy()
    slow[:, feet, 0] += (fc.slide_speed * 0.5 / 30.0) * np.arange(3)[:, None]
    assert metrics.plausibility(slow, 30.0, CANONICAL.names).foot_skating == 0.0


def test_reprojection_error_per_frame_ignores_invisible_keypoints():
    pred = np.zeros((2, 3, 2))
    gt = np.array([[[3.0, 4.0], [0, 0], [100, 0]], [[0, 0], [0, 0], [0, 0]]])
    conf = np.array([[1.0, 1.0, 0.0], [0.0, 0.0, 0.0]])
    per = metrics.reprojection_error_px(pred, gt, conf, per_frame=True)
    assert per[0] == pytest.approx(2.5) and np.isnan(per[1])
    assert metrics.reprojection_error_px(pred, gt, conf) == pytest.approx(2.5)


def test_seam_jump_finds_a_turn_where_windows_meet():
    t = np.linspace(0, 1, 40)
    angle = 0.2 * t  # a steady turn of the root about z
    angle[20:] += 0.3  # a jump between frames 19 and 20, where a window starts
    q = np.stack([np.cos(angle / 2), 0 * t, 0 * t, np.sin(angle / 2)], axis=1)
    jump = metrics.seam_jump(q, [20])
    assert jump.near_seams_deg == pytest.approx(np.degrees(0.3 + 0.2 / 39), rel=1e-6)
    assert jump.elsewhere_p95_deg == pytest.approx(np.degrees(0.2 / 39), rel=1e-6) and jump.ratio > 50
    assert metrics.seam_jump(q, [10]).near_seams_deg < 1.0  # a seam elsewhere does not see the jump
    smooth = np.stack([np.cos(0.1 * t), 0 * t, 0 * t, np.sin(0.1 * t)], axis=1)
    assert metrics.seam_jump(smooth, [20]).ratio == pytest.approx(1.0)
