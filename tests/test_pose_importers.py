"""Importers (OpenPose BODY_25/BODY_25B/COCO-18, COCO JSON, npz, CSV) and tracking on generated files."""

import json

import numpy as np
import pytest

from phymo.data import CANONICAL, DataFormatError
from phymo.pose import (
    Keypoints2D,
    fill_gaps,
    load_any,
    load_coco_json,
    load_csv,
    load_keypoints,
    load_openpose,
    select_subject,
)


def _person(k, offset, scale=1.0, rng=None):
    rng = rng or np.random.default_rng(0)
    pts = offset + scale * rng.uniform(0, 100, (k, 2))
    return pts, np.full(k, 0.9)


def _write_openpose(folder, frames):
    folder.mkdir()
    for i, people in enumerate(frames):
        data = {"version": 1.3, "people": [{"person_id": [-1], "pose_keypoints_2d":
                                             np.c_[p, c].ravel().tolist()} for p, c in people]}
        (folder / f"clip_{i:012d}_keypoints.json").write_text(json.dumps(data))


@pytest.mark.parametrize("k, model", [(25, None), (18, None), (25, "body25b")])
def test_openpose_folder_selects_main_subject(tmp_path, k, model):
    rng = np.random.default_rng(1)
    frames = []
    big = [_person(k, np.array([300.0, 100.0]), 3.0, rng) for _ in range(6)]
    for i in range(6):
        people = [_person(k, np.array([10.0, 10.0]), 0.5, rng)]  # a small bystander, listed first
        if i != 3:  # the main subject is missed in frame 3 (a gap, kept and marked)
            people.append(big[i])
        frames.append(people)
    _write_openpose(tmp_path / "op", frames)
    kp = load_openpose(tmp_path / "op", fps=30, width=640, height=480, model=model)
    assert kp.joint_set == (model or {25: "body25", 18: "coco18"}[k])
    assert kp.num_frames == 6 and kp.meta["people"]["seen"] == 2
    np.testing.assert_allclose(kp.points[0], big[0][0])
    assert not kp.detected[3] and kp.detected.sum() == 5
    pts, conf, _ = kp.to_canonical()
    assert pts.shape == (6, CANONICAL.num_joints, 2) and conf[0, CANONICAL.index("left_knee")] == pytest.approx(0.9)


def test_openpose_errors(tmp_path):
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "0.json").write_text("{not json")
    with pytest.raises(DataFormatError):
        load_openpose(tmp_path / "bad", 30, 640, 480)
    _write_openpose(tmp_path / "op", [[_person(25, 0.0)]])
    with pytest.raises(DataFormatError):
        load_openpose(tmp_path / "op", 30, 640, 480, model="coco18")


def test_coco_json(tmp_path):
    rng = np.random.default_rng(2)
    images = [{"id": 10 + i, "width": 320, "height": 240, "file_name": f"{i}.jpg"} for i in range(3)]
    anns = []
    for i in range(3):
        for s, off in ((1.0, 0.0), (2.5, 100.0)):
            p = off + s * rng.uniform(0, 50, (17, 2))
            v = np.full(17, 2.0)
            v[0] = 0  # nose not labelled
            anns.append({"id": len(anns), "image_id": 10 + i, "keypoints": np.c_[p, v].ravel().tolist()})
    path = tmp_path / "coco.json"
    path.write_text(json.dumps({"images": images, "annotations": anns}))
    kp = load_coco_json(path, fps=25)
    assert (kp.width, kp.height, kp.num_frames, kp.joint_set) == (320, 240, 3, "coco17")
    np.testing.assert_allclose(kp.points[0], np.array(anns[1]["keypoints"]).reshape(17, 3)[:, :2])
    assert kp.confidence[0, 0] == 0 and kp.confidence[0, 1] == 1


def test_npz_round_trip(tmp_path):
    rng = np.random.default_rng(3)
    kp = Keypoints2D(rng.uniform(0, 100, (4, 33, 2)), rng.uniform(0, 1, (4, 33)), "mediapipe33", 50.0, 100, 80,
                     world=rng.normal(size=(4, 33, 3)), detected=np.array([1, 1, 0, 1], bool),
                     frame_indices=np.array([0, 2, 4, 6]), meta={"source": "x.mp4"})
    back = load_keypoints(kp.save(tmp_path / "k.npz"))
    np.testing.assert_allclose(back.points, kp.points, atol=1e-4)
    np.testing.assert_allclose(back.world, kp.world, atol=1e-5)
    assert back.detected.tolist() == [True, True, False, True] and back.frame_indices.tolist() == [0, 2, 4, 6]
    assert (back.fps, back.width, back.height, back.meta["source"]) == (50.0, 100, 80, "x.mp4")
    np.savez(tmp_path / "bad.npz", foo=np.zeros(3))
    with pytest.raises(DataFormatError, match="missing keys"):
        load_any(tmp_path / "bad.npz")


def test_csv(tmp_path):
    rng = np.random.default_rng(4)
    vals = rng.uniform(0, 1, (3, 17 * 3))
    lines = ["frame," + ",".join(f"k{i}_{c}" for i in range(17) for c in "xyc")]
    lines += [f"{i}," + ",".join(f"{v:.6f}" for v in row) for i, row in enumerate(vals)]
    lines[2] = lines[2].rsplit(",", 3)[0] + ",,,"  # last keypoint of frame 1 missing
    (tmp_path / "k.csv").write_text("\n".join(lines))
    kp = load_csv(tmp_path / "k.csv", fps=30, width=64, height=64)
    assert kp.joint_set == "coco17" and kp.num_frames == 3
    np.testing.assert_allclose(kp.points[0, 1], vals[0, 3:5], atol=1e-6)
    assert kp.confidence[1, 16] == 0


def test_tracking_and_gap_filling():
    a = (np.array([[0.0, 0.0], [10.0, 40.0]]), np.ones(2))
    b = (np.array([[100.0, 100.0], [200.0, 300.0]]), np.ones(2))
    pts, conf, rep = select_subject([[a, b], [b], [a, b]], 2, 320, 320)
    assert rep["seen"] == 2 and rep["people"][rep["followed"]]["frames_seen"] == 3
    np.testing.assert_allclose(pts[1], b[0])
    p = np.arange(10, dtype=float)[:, None, None] * np.ones((10, 1, 2))
    c = np.ones((10, 1))
    c[3:5] = 0
    c[6:9] = 0
    fp, fc, filled = fill_gaps(p * (c[..., None] > 0), c, max_gap=2)
    np.testing.assert_allclose(fp[3:5, 0, 0], [3, 4])
    assert filled[3:5, 0].all() and not filled[6:9, 0].any() and fc[3, 0] == 0.5


def test_pose2sim_openpose_body25b_keeps_the_participant_not_the_bystander(shared_data):
    folder = shared_data("pose2sim", "balancing_trial", "pose_openpose_body25b", "cam01_json")
    kp = load_openpose(folder, fps=60, width=1080, height=1920, model="body25b")
    assert kp.num_frames == 100 and kp.detected.all()
    people = kp.meta["people"]
    assert people["max_in_frame"] >= 2 and people["people"][people["followed"]]["frames_seen"] == 100
    pts, conf, _ = kp.to_canonical()
    ankle, head = CANONICAL.index("left_ankle"), CANONICAL.index("head_top")
    ok = (conf[:, ankle] > 0) & (conf[:, head] > 0)
    assert np.median(pts[ok, ankle, 1] - pts[ok, head, 1]) > 600  # the participant is the tall figure (~750 px)
