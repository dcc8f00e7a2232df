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
