import json
from pathlib import Path

import numpy as np
import pytest

from phymo.data import CANONICAL, DataFormatError, InputNotFoundError
from phymo.data.h36m import (
    CAMERA_IDS,
    TEST_SUBJECTS,
    TRAIN_SUBJECTS,
    H36MDataset,
    load_cameras,
    normalize_action,
)
from phymo.data.skeleton import H36M_17_FROM_32

KARFLY = ("human36m-camera-parameters", "camera-parameters.json")
MMPOSE = ("mmpose", "tests_data_h36m")

CLIPS = {"S1": {"Walking 1": 10, "Directions": 6}, "S9": {"WalkDog": 8}, "S11": {"Sitting 1": 4}}


def _camera_json(path: Path) -> None:
    """A calibration file in karfly's layout: every subject, every camera, a camera 5 m away on -Y."""
    R = np.array([[1.0, 0, 0], [0, 0, -1], [0, 1, 0]])  # world Z up -> camera y down, looking along +Y
    intr = {cid: {"calibration_matrix": [[1100.0, 0, 500.0], [0, 1100.0, 500.0], [0, 0, 1]],
                  "distortion": [0.0] * 5} for cid in CAMERA_IDS}
    ext = {s: {cid: {"R": R.tolist(), "t": [[0.0], [1000.0], [5000.0 + 100 * i]]} for i, cid in enumerate(CAMERA_IDS)}
           for s in CLIPS}
    path.write_text(json.dumps({"intrinsics": intr, "extrinsics": ext}))


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A miniature tree saved exactly as VideoPose3D's prepare_data_h36m.py saves it."""
    rng = np.random.default_rng(0)
    pos3d, pos2d = {}, {}
    for subject, clips in CLIPS.items():
        pos3d[subject], pos2d[subject] = {}, {}
        for action, t in clips.items():
            pos3d[subject][action] = rng.normal(size=(t, 32, 3)).astype("float32")
            # detections two frames longer than the mocap, as happens in the public files
            pos2d[subject][action] = [rng.uniform(0, 1000, size=(t + 2, 17, 2)).astype("float32") for _ in range(4)]
    np.savez_compressed(tmp_path / "data_3d_h36m.npz", positions_3d=pos3d)
    metadata = {"num_joints": 17, "keypoints_symmetry": [[4, 5, 6, 11, 12, 13], [1, 2, 3, 14, 15, 16]]}
    np.savez_compressed(tmp_path / "data_2d_h36m_gt.npz", positions_2d=pos2d, metadata=metadata)
    _camera_json(tmp_path / "camera-parameters.json")
    return tmp_path


def test_subjects_actions_and_positions(root):
    ds = H36MDataset(root)
    assert ds.subjects() == ["S1", "S9", "S11"]
    assert ds.actions("S1") == ["Directions", "Walking 1"]
    raw = np.load(root / "data_3d_h36m.npz", allow_pickle=True)["positions_3d"].item()["S1"]["Walking 1"]
    np.testing.assert_allclose(ds.positions_32("S1", "Walking 1"), raw)
    p17 = ds.positions_17("S1", "Walking 1")
    assert p17.shape == (10, 17, 3) and p17.dtype == np.float64
    np.testing.assert_allclose(p17[:, 4], raw[:, 6])  # LHip is joint 6 of 32
    np.testing.assert_allclose(p17, raw[:, list(H36M_17_FROM_32)])
    canon, avail = ds.positions_canonical("S1", "Walking 1")
    assert canon.shape == (10, CANONICAL.num_joints, 3)
    np.testing.assert_allclose(canon[:, CANONICAL.index("right_knee")], raw[:, 2])
    np.testing.assert_allclose(canon[:, CANONICAL.index("left_wrist")], raw[:, 19])
    assert avail[0, CANONICAL.index("chest")] == 0 and avail[0, CANONICAL.index("pelvis")] == 1


def test_downsample_to_25hz(root):
    full, half = H36MDataset(root), H36MDataset(root, downsample=2)
    assert (full.fps, half.fps) == (50.0, 25.0)
    np.testing.assert_allclose(half.positions_17("S1", "Walking 1"), full.positions_17("S1", "Walking 1")[::2])
    assert half.keypoints_2d("S1", "Walking 1", 0).shape == (5, 17, 2)


def test_keypoints_trimmed_to_mocap_length_and_camera_order(root):
    ds = H36MDataset(root)
    raw = np.load(root / "data_2d_h36m_gt.npz", allow_pickle=True)["positions_2d"].item()["S9"]["WalkDog"]
    kp = ds.keypoints_2d("S9", "WalkDog", 2)
    np.testing.assert_allclose(kp, raw[2][:8])
    assert ds.metadata_2d["num_joints"] == 17
    with pytest.raises(IndexError):
        ds.keypoints_2d("S9", "WalkDog", 4)


def test_camera_from_karfly_layout_and_observations(root):
    ds = H36MDataset(root, downsample=2)
    cam = ds.camera("S9", 1)
    assert (cam.width, cam.height) == (1000, 1000)
    assert ds.camera("S9", 0).height == 1002
    np.testing.assert_allclose(cam.t, [0.0, 1.0, 5.1])  # millimetres -> metres
    np.testing.assert_allclose(cam.center, [0.0, -5.1, 1.0])  # 5.1 m in front, 1 m up (Z up)
    # a point 1 m above the origin projects above the image centre (v smaller): Z up is preserved
    assert cam.project(np.array([0.0, 0.0, 2.0]))[1] < cam.cy
    obs = ds.observations("S9", "WalkDog", 1)
    assert obs.fps == 25.0 and obs.num_frames == 4 and obs.meta["action_group"] == "WalkDog"
    np.testing.assert_allclose(obs.keypoints_2d[:, CANONICAL.index("head_top")],
                               ds.keypoints_2d("S9", "WalkDog", 1)[:, 10])


def test_split_and_action_names():
    assert set(TRAIN_SUBJECTS) == {"S1", "S5", "S6", "S7", "S8"} and set(TEST_SUBJECTS) == {"S9", "S11"}
    assert normalize_action("Walking 1") == "Walking"
    assert normalize_action("WalkingDog 1") == "WalkDog"
    assert normalize_action("TakingPhoto") == "Photo"
    assert normalize_action("SittingDown 2") == "SittingDown"
    assert normalize_action("Directions_1") == "Directions"
    assert normalize_action("WalkTogether") == "WalkTogether"


def test_missing_files_and_keys(tmp_path, root):
    with pytest.raises(InputNotFoundError):
        H36MDataset(tmp_path / "nowhere")
    with pytest.raises(InputNotFoundError, match="data_2d_h36m_cpn"):
        H36MDataset(root, keypoints="cpn").keypoints_2d("S1", "Directions", 0)
    np.savez(root / "data_3d_h36m.npz", positions=np.zeros(3))
    with pytest.raises(DataFormatError, match=r"data_3d_h36m\.npz.*positions_3d"):
        H36MDataset(root).positions_17("S1", "Directions")
    np.savez(root / "data_3d_h36m.npz", positions_3d=np.zeros((4, 32, 3)))
    with pytest.raises(DataFormatError, match="pickled dict"):
        H36MDataset(root).subjects()
    np.savez(root / "data_3d_h36m.npz", positions_3d={"S1": {"Directions": np.zeros((4, 17, 3))}})
    with pytest.raises(DataFormatError, match=r"\(T, 32, 3\)"):
        H36MDataset(root).positions_17("S1", "Directions")
    (root / "data_3d_h36m.npz").write_text("not a zip")
    with pytest.raises(DataFormatError, match="data_3d_h36m"):
        H36MDataset(root).subjects()
    with pytest.raises(KeyError, match="Jumping"):
        H36MDataset(root).keypoints_2d("S1", "Jumping", 0)
    with pytest.raises(InputNotFoundError):
        H36MDataset(root, camera_file=tmp_path / "none.json").camera("S1", 0)
    (root / "bad.json").write_text(json.dumps({"intrinsics": {}}))
    with pytest.raises(DataFormatError, match="bad.json"):
        load_cameras(root / "bad.json")


def test_karfly_json_and_mmpose_pkl_agree(shared_data):
    a, b = load_cameras(shared_data(*KARFLY)), load_cameras(shared_data(*MMPOSE) / "cameras.pkl")
    assert len(a) == len(b) == 44
    for key, cam in b.items():
        np.testing.assert_allclose(a[key].R, cam.R, atol=1e-9)
        np.testing.assert_allclose(a[key].t, cam.t, atol=1e-9)
        np.testing.assert_allclose(a[key].K, cam.K, atol=1e-6)
        assert (a[key].width, a[key].height) == (cam.width, cam.height)


def test_real_cameras_project_mmpose_annotations(shared_data):
    """World 3D joints of four real frames land on their 2D annotations; camera-frame 3D matches exactly."""
    mmpose = shared_data(*MMPOSE)
    coco = json.loads((mmpose / "h36m_coco.json").read_text())
    cam_frame = np.load(mmpose / "test_h36m_body3d.npz")["S"][..., :3]
    ds = H36MDataset(mmpose, camera_file=shared_data(*KARFLY))
    for i, (image, ann) in enumerate(zip(coco["images"], coco["annotations"], strict=True)):
        subject, rest = image["file_name"].split("_", 1)
        cam = ds.camera(subject, CAMERA_IDS.index(rest.split(".")[1].split("_")[0]))
        world = np.array(ann["keypoints_3d"]).reshape(17, 4)[:, :3]
        np.testing.assert_allclose(cam.to_camera(world), cam_frame[i], atol=1e-5)
        pixels = np.array(ann["keypoints"]).reshape(17, 3)[:, :2]
        assert np.abs(cam.project(world) - pixels).max() < 3.0  # lens distortion ignored
