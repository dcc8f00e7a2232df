import numpy as np
import pytest

from phymo.data import CANONICAL
from phymo.data.gait import SOLE_CLEARANCE, walking_motion
from phymo.data.metrics import foot_skating


def test_walk_moves_forward_with_feet_on_the_ground():
    m = walking_motion(duration_s=2.0, fps=30.0)
    pos = m.positions()
    feet = [CANONICAL.index(n) for n in ("left_ankle", "left_toe", "right_ankle", "right_toe")]
    lowest = pos[:, feet, 2].min(axis=1)
    assert np.allclose(lowest, SOLE_CLEARANCE)  # always one foot on the ground, never below it
    speed = (m.root_translation[-1, 0] - m.root_translation[0, 0]) / 2.0
    assert 0.5 < speed < 1.6  # an ordinary walking speed, m/s
    # feet in contact barely slide (the root travel is integrated from the contact point)
    skating = foot_skating(pos, m.fps, feet, contact_height=[0.1, 0.05, 0.1, 0.05])
    assert skating.skating_ratio < 0.1 and skating.contact_ratio > 0.3
    # hands hang below the shoulders, in front of them at the elbow bend
    wrist, shoulder = CANONICAL.index("left_wrist"), CANONICAL.index("left_shoulder")
    assert (pos[:, wrist, 2] < pos[:, shoulder, 2] - 0.4).all()


def test_walk_rejects_nonsense():
    with pytest.raises(ValueError):
        walking_motion(duration_s=0)
