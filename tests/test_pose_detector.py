"""The MediaPipe detector runs offline on real frames; the detect command and its bad-input paths."""

from pathlib import Path

import cv2
import numpy as np
import pytest

from phymo.app.commands import detect as detect_command
from phymo.data import CANONICAL, PhymoError
from phymo.pose import DETECTORS, check_mediapipe_models, detect_video, iter_frames, load_keypoints, make_detector

CLIP = ("pose2sim", "balancing_trial", "videos", "cam01.mp4")


@pytest.fixture
def clip(shared_data) -> Path:
    """The balancing trial's cam01 video (a person standing on one leg, portrait)."""
    return shared_data(*CLIP)


def _detect_cmd(argv):
    """Run ``phymo detect`` through its command module (the CLI registry is wired by the lead)."""
    import argparse

    parser = argparse.ArgumentParser()
    detect_command.add_arguments(parser)
    return detect_command.run(parser.parse_args(argv))


def _blank_video(path, frames=3, size=(160, 120)):
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, size)
    for _ in range(frames):
        w.write(np.full((size[1], size[0], 3), 127, np.uint8))
    w.release()
    return path


def test_models_are_bundled():
    assert (check_mediapipe_models() / "modules/pose_landmark/pose_landmark_full.tflite").is_file()


@pytest.mark.parametrize("name", sorted(DETECTORS))
def test_every_detector_on_a_blank_frame(name):
    det = make_detector(name)
    try:
        assert det(np.full((120, 160, 3), 127, np.uint8)) is None
    finally:
        det.close()


def test_mediapipe_finds_the_person_on_a_real_frame(clip):
    _, frame = next(iter_frames(clip, start=10, end=11))
    det = make_detector("mediapipe")
    try:
        found = det(frame)
    finally:
        det.close()
    assert found is not None and found.points.shape == (33, 2) and found.world.shape == (33, 3)
    # the balancing person stands in the left half of the portrait frame, upright (head above ankles)
    assert found.confidence[[11, 12, 23, 24]].min() > 0.5
    assert 250 < found.points[[11, 12, 23, 24], 0].mean() < 650
    assert found.points[0, 1] < found.points[27, 1] and found.points[0, 1] < found.points[28, 1]
    hips = found.world[[23, 24]].mean(0)
    assert np.linalg.norm(hips) < 0.05  # world landmarks are hip-centred, metres
    assert 0.3 < np.linalg.norm(found.world[11] - found.world[27]) < 2.0


def test_detect_command_writes_readable_keypoints(tmp_path, clip):
    out = tmp_path / "kp.npz"
    assert _detect_cmd([str(clip), "-o", str(out), "--end", "6", "--stride", "2", "--no-progress"]) == 0
    kp = load_keypoints(out)
    assert kp.num_frames == 3 and kp.frame_indices.tolist() == [0, 2, 4] and kp.fps == pytest.approx(30.0)
    assert kp.detected.all() and kp.world is not None and (kp.width, kp.height) == (1080, 1920)
    pts, conf, world = kp.to_canonical()
    assert pts.shape == (3, CANONICAL.num_joints, 2) and conf[:, CANONICAL.index("left_knee")].min() > 0.5


def test_no_person_is_a_clear_error(tmp_path):
    blank = _blank_video(tmp_path / "blank.avi")
    with pytest.raises(PhymoError, match=f"no person detected in {blank}"):
        detect_video(blank)
    with pytest.raises(PhymoError, match="no person detected in"):
        _detect_cmd([str(blank), "-o", str(tmp_path / "k.npz"), "--no-progress"])
    assert not (tmp_path / "k.npz").exists()


def test_one_frame_and_corrupt_videos(tmp_path):
    one = _blank_video(tmp_path / "one.avi", frames=1)
    kp = detect_video(one, require_person=False)
    assert kp.num_frames == 1 and not kp.detected.any()
    corrupt = tmp_path / "corrupt.mp4"
    corrupt.write_bytes(b"not a video at all" * 50)
    with pytest.raises(PhymoError, match=str(corrupt)):
        _detect_cmd([str(corrupt), "-o", str(tmp_path / "k.npz"), "--no-progress"])


def test_several_people_video_keeps_one_subject(shared_data):
    clip = shared_data("mmpose", "demo_multiperson_street_5frames.mp4")
    kp = detect_video(clip)  # MediaPipe follows one person by design: one track, every frame kept
    assert kp.num_frames == 5 and kp.points.shape == (5, 33, 2) and kp.detected.sum() >= 4


def test_end_to_end_initialization_on_a_real_clip(clip):
    from phymo.pose import initialize, resolve_camera

    kp = detect_video(clip, end=30)
    cam, _ = resolve_camera(kp.width, kp.height)
    result = initialize(kp, cam)
    assert result.reproj_px < 25.0
    pos = result.motion.positions()
    feet = [CANONICAL.index(n) for n in ("left_ankle", "left_toe", "right_ankle", "right_toe")]
    assert abs(np.percentile(pos[:, feet, 2].min(axis=1), 5)) < 0.03 and pos[:, feet, 2].min() > -0.1
    assert 1.2 < pos[:, CANONICAL.index("head_top"), 2].mean() < 2.1  # standing, Z up, ground at the feet
    assert result.observations.num_frames == 30 and result.observations.kinematic is result.motion


@pytest.mark.parametrize("verbose", [False, True])
def test_mediapipe_start_up_noise_only_with_verbose(tmp_path, verbose, shared_data):
    """TensorFlow Lite / absl / glog write start-up lines straight to stderr; `phymo` hides them unless -v."""
    import subprocess
    import sys

    clip = shared_data(*CLIP, required=False) or _blank_video(tmp_path / "blank.avi")  # a person: landmarks start too
    argv = [sys.executable, "-m", "phymo.app", *(["-v"] if verbose else []), "detect", str(clip),
            "-o", str(tmp_path / "k.npz"), "--end", "3", "--no-progress"]
    err = subprocess.run(argv, capture_output=True, text=True, timeout=120).stderr
    noise = [line for line in err.splitlines() if any(k in line for k in ("XNNPACK", "absl", "W0000", "I0000"))]
    assert bool(noise) == verbose, err
