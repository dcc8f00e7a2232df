"""Ground under a body: the lab floor under the shared trial's balancing person; walks seen by a tilted camera."""


import numpy as np
import pytest

from phymo.data import CANONICAL, Camera, markers_to_canonical, read_trc, trc_to_lab, walking_motion
from phymo.pose import estimate_ground, read_calibration

#: a camera rolled by 12 degrees and looking down by 15, like a phone held by hand
TILTED = Camera.from_fov(1080, 1920, 60.0).looking_at(eye=(0.0, -6.0, 2.5), target=(0.0, 0.0, 0.9),
                                                       up=(np.sin(np.radians(12)), 0.0, np.cos(np.radians(12))))


def _angle(a, b) -> float:
    return float(np.degrees(np.arccos(np.clip(a @ b / np.linalg.norm(a) / np.linalg.norm(b), -1, 1))))


def test_lab_floor_under_the_balancing_person(shared_data):
    """Triangulated markers seen from cam01: the person leans (the trunk is 20+ degrees off vertical), yet the
    centre of mass over the stance foot finds the lab's up within 5 degrees, and the floor under the feet."""
    trial = shared_data("pose2sim", "balancing_trial")
    trc = trial / "pose3d_triangulated" / "S00_P00_T01_BalancingTrial_0-100_filt_butterworth.trc"
    lab, _ = markers_to_canonical(read_trc(trc))
    lab = trc_to_lab(lab)
    pelvis, neck = lab[:, 0], lab[:, CANONICAL.index("neck")]
    lab[:, CANONICAL.index("spine")] = pelvis + 0.25 * (neck - pelvis)  # no markers: on the trunk's line
    lab[:, CANONICAL.index("chest")] = pelvis + 0.55 * (neck - pelvis)
    camera = read_calibration(trial / "calibration" / "Calib.qca.txt")["cam01"]
    up, _, method = estimate_ground(camera.to_camera(lab), CANONICAL)
    assert _angle(up, camera.R @ [0.0, 0.0, 1.0]) < 5.0 and method == "balance"  # the feet stay put
    assert _angle((neck - pelvis).mean(axis=0), [0.0, 0.0, 1.0]) > 15.0  # what the trunk would have said


def test_a_walk_on_a_circle_shows_the_floor_plane():
    walk = walking_motion(12.0, 30.0, turn_radius_m=2.5)
    up, h, method = estimate_ground(TILTED.to_camera(walk.positions()), CANONICAL)
    true_up = TILTED.R @ [0.0, 0.0, 1.0]
    assert method == "balance+feet_plane" and _angle(up, true_up) < 1.0
    assert h - true_up @ TILTED.t == pytest.approx(0.02, abs=0.02)  # the walk's soles touch z = 0


def test_a_straight_walk_levels_the_line_of_its_footsteps():
    """Footsteps along one line fix the tilt along the walk (a plane through them would not be determined)."""
    walk = walking_motion(3.0, 30.0)
    up, _, method = estimate_ground(TILTED.to_camera(walk.positions()), CANONICAL)
    assert method == "balance+feet_line" and _angle(up, TILTED.R @ [0.0, 0.0, 1.0]) < 2.0


def _lying(motion):
    """``motion`` turned 90 degrees about X (lying on its back), its pelvis 0.2 m above the ground."""
    from phymo.data import Motion, axis_angle_to_quat, quat_mul

    turn = axis_angle_to_quat(np.array([np.pi / 2, 0.0, 0.0]))
    q = motion.rotations.copy()
    q[:, 0] = quat_mul(np.broadcast_to(turn, q[:, 0].shape), q[:, 0])
    root = motion.root_translation * [1.0, 1.0, 0.0] + [0.0, 0.0, 0.2]
    return Motion(motion.skeleton, motion.fps, root, q)


def test_a_body_stands_on_its_ground_or_the_check_says_why_not():
    """The check that keeps a body off a wrong ground: a walk stands on z = 0; the same walk lying (what a ground
    on the wall makes of a standing person), or lifted by 1.5 m, does not."""
    from phymo.pose import placement_problem

    walk = walking_motion(2.0, 30.0)
    assert placement_problem(walk.positions(), CANONICAL) is None
    assert "the trunk leans 90 degrees" in placement_problem(_lying(walk).positions(), CANONICAL)
    lifted = walk.positions() + [0.0, 0.0, 1.5]
    assert "the pelvis is 1.4" in placement_problem(lifted, CANONICAL)


def test_a_ground_is_the_world_frame_a_fitted_camera_stands_for():
    """``Ground.below`` puts the origin on the plane under the point; a camera made from it gives it back."""
    from phymo.pose import Ground

    up = np.array([0.1, -0.98, 0.15]) / np.linalg.norm([0.1, -0.98, 0.15])
    g = Ground.below(np.array([0.3, 0.2, 4.0]), up, -1.2, "balance")
    assert g.offset == pytest.approx(-1.2) and np.allclose(g.rotation @ g.rotation.T, np.eye(3))
    camera = Camera(500.0, 500.0, 320.0, 240.0, 640, 480, g.rotation.T, g.origin)
    assert np.allclose(camera.to_camera(np.zeros(3)), g.origin)
    assert np.allclose(camera.to_camera(np.array([0.0, 0.0, 1.0])) - g.origin, up)  # world Z is up
    back = Ground.of_camera(camera, "given")
    assert np.array_equal(back.rotation, g.rotation) and np.array_equal(back.origin, g.origin)


def test_feet_are_seen_where_an_ankle_or_toe_of_each_foot_is_confident():
    from phymo.pose import feet_seen

    conf = np.ones((4, CANONICAL.num_joints))
    conf[1, [CANONICAL.index("left_ankle"), CANONICAL.index("left_toe")]] = 0.0  # the left foot hidden
    conf[2, CANONICAL.index("right_ankle")] = 0.0  # its toe still seen
    conf[3, CANONICAL.index("left_toe")] = 0.3
    conf[3, CANONICAL.index("left_ankle")] = 0.4  # both too uncertain
    assert feet_seen(conf, CANONICAL).tolist() == [True, False, True, False]
