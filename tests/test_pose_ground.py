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
