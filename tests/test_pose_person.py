"""Which person is followed: tracks, the most prominent, the user's choice by number or point, and the real
two-person clip where MediaPipe alone follows the smaller person in the back."""

import numpy as np
import pytest

from phymo.data import ConfigError, PhymoError
from phymo.pose import PersonChoice, select_subject

W, H = 1000, 600


def _person(x: float, top: float, height: float) -> tuple[np.ndarray, np.ndarray]:
    """Two keypoints spanning a box ``height`` px tall, ``height / 3`` wide, centred at ``x``."""
    return np.array([[x - height / 6, top], [x + height / 6, top + height]]), np.ones(2)


def test_most_prominent_is_the_largest_and_most_central_over_the_clip():
    centre_small = _person(500, 200, 150)
    edge_tall = _person(60, 50, 500)
    centre_tall_briefly = _person(520, 60, 480)
    frames = [[centre_small, edge_tall] for _ in range(6)] + [[centre_small, edge_tall, centre_tall_briefly]]
    points, conf, report = select_subject(frames, 2, W, H)
    assert report["seen"] == 2  # the one-frame figure is not counted as a person
    assert report["numbered_in_frame"] == 0 and report["max_in_frame"] == 2
    np.testing.assert_allclose(points[0], edge_tall[0])  # size counts more than centrality
    assert report["why"].startswith("the most prominent: the largest and most central")
    followed = report["people"][report["followed"]]
    assert followed["number"] == 0 and followed["mean_height_px"] == 500  # the leftmost


def test_choice_by_number_counts_from_the_left_in_the_first_frame_with_several():
    left, right = _person(200, 100, 300), _person(700, 100, 320)
    frames = [[right], [right, left], [left, right], [right, left]]  # alone first; then listed in any order
    for index, expected in ((0, left), (1, right)):
        points, conf, report = select_subject(frames, 2, W, H, PersonChoice.parse(str(index)))
        np.testing.assert_allclose(points[2], expected[0])
        assert f"number {index} from the left in frame 1, the first where several people are seen" in report["why"]
        assert conf[0].any() == (index == 1)  # the left person is absent from frame 0
    with pytest.raises(PhymoError, match="--person 2: frame 1, the first where several people are seen, shows 2"):
        select_subject(frames, 2, W, H, PersonChoice(index=2))
    with pytest.raises(PhymoError, match="only one person is seen"):
        select_subject([[left], [left]], 2, W, H, PersonChoice(index=1))


def test_choice_by_point_in_the_image():
    left, right = _person(200, 100, 300), _person(700, 100, 320)
    points, _, report = select_subject([[left, right]] * 3, 2, W, H, PersonChoice.parse("690, 250"))
    np.testing.assert_allclose(points[1], right[0])
    assert report["choice"] == "690,250" and "whose box contains that point in frame 0" in report["why"]
    with pytest.raises(PhymoError, match=r"--person 10,10: no person's box contains that point .*150,100-250,400"):
        select_subject([[left, right]] * 3, 2, W, H, PersonChoice.parse("10,10"))


@pytest.mark.parametrize("text", ["-1", "left", "1,2,3", "1.5"])
def test_bad_person_argument(text):
    with pytest.raises(ConfigError, match="^person must be a number"):
        PersonChoice.parse(text)


def test_two_person_clip_follows_the_larger_person_in_front(shared_data):
    """mmhuman3d's two-person clip: MediaPipe alone follows the woman in the back (smaller, right); the
    larger man in front (left) is the most prominent and is followed in every frame (~5 s)."""
    clip = shared_data("mmhuman3d", "multi_person_demo.mp4")
    from phymo.pose import detect_video

    kp = detect_video(clip)
    people = kp.meta["people"]
    assert people["seen"] == 2 and people["numbered_in_frame"] == 0 and people["second_pass"]
    followed = people["people"][people["followed"]]
    other = people["people"][1 - people["followed"]]
    assert followed["number"] == 0 and followed["mean_height_px"] > other["mean_height_px"]
    assert kp.detected.all()
    torso = [11, 12, 23, 24]  # MediaPipe shoulders and hips
    x = kp.points[:, torso, 0].mean(axis=1)
    assert x.max() < 0.5 * kp.width  # the man stays in the left half; the woman stands at x ~ 800-900 px
