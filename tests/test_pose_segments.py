"""Which frames are reconstructed: runs where the person is seen, short gaps bridged, long ones split."""

import numpy as np

from phymo.pose import plan_segments


def _seen(t: int, missing) -> np.ndarray:
    seen = np.ones(t, bool)
    seen[list(missing)] = False
    return seen


def test_leading_and_trailing_frames_are_left_out_short_gaps_bridged_long_ones_split():
    seen = _seen(40, [0, 1, 2, 10, 11, *range(20, 28), 38, 39])
    plan = plan_segments(seen, max_gap=3, min_frames=4)
    assert plan.segments == ((3, 20), (28, 38))
    assert (plan.leading, plan.trailing) == (3, 2)
    assert plan.bridged == ((10, 12),) and plan.split == ((20, 28),) and plan.dropped == ()


def test_a_flicker_far_from_the_person_is_dropped_but_a_short_run_near_them_is_kept():
    seen = _seen(40, [*range(0, 12), 13, 14, 15, 16, 17, 18, 19, 21, 22])  # seen: 12, 20, 23..39
    plan = plan_segments(seen, max_gap=2, min_frames=4)
    assert plan.segments == ((20, 40),)  # 20 joins 23.. across a 2-frame gap; 12 alone is too short
    assert plan.dropped == ((12, 13),) and plan.bridged == ((21, 23),) and plan.leading == 20


def test_nobody_seen():
    plan = plan_segments(np.zeros(5, bool), max_gap=2, min_frames=3)
    assert plan.segments == () and plan.leading == 5 and plan.trailing == 0


def _keypoints(t: int, legs_hidden):
    """MediaPipe keypoints of ``t`` frames, every point confident except the legs' in rows ``legs_hidden``."""
    from phymo.data import MEDIAPIPE_33
    from phymo.pose import Keypoints2D

    conf = np.ones((t, MEDIAPIPE_33.num_external))
    legs = [i for n, i in MEDIAPIPE_33.pairs if n.endswith(("knee", "ankle", "toe"))]
    conf[np.ix_(list(legs_hidden), legs)] = 0.0
    return Keypoints2D(np.zeros((t, MEDIAPIPE_33.num_external, 2)), conf, MEDIAPIPE_33.name, 30.0, 640, 480)


class _Fits:
    """A stand-in for the kinematic fit: a walk whose frame is the ground given, or for ``(rows, None)`` the one
    estimated under it, which is lying (a ground on the wall) for the segments in ``wall``; ``upside_down``
    segments are upside down on any ground. Records its calls."""

    def __init__(self, wall=(), upside_down=()):
        self.wall, self.upside_down, self.calls = set(wall), set(upside_down), []

    def __call__(self, rows, ground):
        from phymo.data import Camera, Motion, Observations, axis_angle_to_quat, quat_mul, walking_motion

        self.calls.append((rows, ground is not None))
        walk = walking_motion((rows[1] - rows[0]) / 30.0, 30.0)
        q, root = walk.rotations.copy(), walk.root_translation.copy()
        angle = np.pi if rows in self.upside_down else np.pi / 2 if ground is None and rows in self.wall else 0.0
        if angle:
            q[:, 0] = quat_mul(np.broadcast_to(axis_angle_to_quat(np.array([angle, 0.0, 0.0])), q[:, 0].shape), q[:, 0])
            root[:, 2] = 1.0
        camera = Camera.from_fov(640, 480).looking_at((0.0, -5.0, 1.0 + len(self.calls)), (0.0, 0.0, 1.0))
        if ground is not None:
            camera = Camera(camera.fx, camera.fy, camera.cx, camera.cy, 640, 480, ground.rotation.T, ground.origin)
        t = rows[1] - rows[0]
        return Observations(np.zeros((t, 22, 2)), np.ones((t, 22)), camera, 30.0, Motion(walk.skeleton, 30.0, root, q),
                            {"kinematic_fit": {"ground": {"method": "balance"}}})


def test_the_ground_comes_from_the_segment_that_saw_the_feet_and_the_others_inherit_it():
    """The shorter segment saw the feet: its ground is the clip's, and the longer one, legs hidden (its own
    estimate would be on the wall), is fitted on it, once."""
    from phymo.pose import place_segments

    fits = _Fits(wall=[(20, 60)])
    placement = place_segments(_keypoints(60, range(20, 60)), ((0, 12), (20, 60)), fits)
    assert fits.calls == [((0, 12), False), ((20, 60), True)]
    assert placement.source == 0 and placement.left_out == {} and list(placement.placed) == [0, 1]
    first, second = placement.placed[0].camera, placement.placed[1].camera
    assert np.array_equal(first.R, second.R) and np.array_equal(first.t, second.t)
    assert placement.ground.method == "balance under frames 0-11"


def test_a_segment_that_cannot_be_placed_is_left_out_with_the_reason():
    """No segment saw the feet: the longest is tried first, its own ground on the wall; the next one's ground is
    the clip's, and the first stands on it. An upside-down body stands on no ground: left out."""
    from phymo.pose import place_segments

    segments = ((0, 30), (35, 45), (50, 60))
    fits = _Fits(wall=[(0, 30)], upside_down=[(50, 60)])
    placement = place_segments(_keypoints(60, range(60)), segments, fits)
    assert fits.calls == [((0, 30), False), ((35, 45), False), ((0, 30), True), ((50, 60), True)]
    assert placement.source == 1 and list(placement.placed) == [0, 1]
    assert list(placement.left_out) == [2] and "the trunk leans 180 degrees" in placement.left_out[2]
    nowhere = place_segments(_keypoints(60, range(60)), segments, _Fits(wall=segments[:2], upside_down=segments[2:]))
    assert nowhere.ground is None and nowhere.placed == {} and sorted(nowhere.left_out) == [0, 1, 2]
    assert all(why.startswith("on a ground estimated under it, the trunk leans") for why in nowhere.left_out.values())


def test_a_plan_leaves_out_a_segment_with_its_reason():
    plan = plan_segments(_seen(40, range(20, 28)), max_gap=3, min_frames=4)
    left = plan.leave_out({(28, 40): "upside down"})
    assert left.segments == ((0, 20),) and left.unplaced == (((28, 40), "upside down"),)
    assert (left.split, left.leading, left.trailing) == (plan.split, plan.leading, plan.trailing)
