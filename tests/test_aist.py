import json
import pickle
from pathlib import Path

import numpy as np
import pytest

from phymo.data import CANONICAL, DataFormatError, InputNotFoundError
from phymo.data.aist import FPS, VIEWS, AISTDataset

cv2 = pytest.importorskip("cv2")

SEQ = "gBR_sBM_cAll_d04_mBR0_ch01"
BAD = "gWA_sFM_cAll_d27_mWA2_ch21"
T = 5


def _coco_cm(rng) -> np.ndarray:
    """A standing person in AIST++'s file frame (Y up, centimetres), COCO-17 order."""
    base = np.array([[0, 165, 8], [4, 168, 6], [-4, 168, 6], [8, 166, 0], [-8, 166, 0], [18, 145, 0],
                     [-18, 145, 0], [22, 118, 0], [-22, 118, 0], [24, 92, 2], [-24, 92, 2], [10, 95, 0],
                     [-10, 95, 0], [11, 50, 2], [-11, 50, 2], [12, 8, -2], [-12, 8, -2]], dtype=float)
    return base + rng.normal(scale=2.0, size=(T, 17, 3)) + np.array([30.0, 0.0, -20.0])


def _camera_params(name: str, eye_cm, target_cm) -> dict:
    """An aniposelib-style camera dict looking from ``eye`` to ``target`` (file frame, Y up, cm)."""
    eye, target = np.asarray(eye_cm, float), np.asarray(target_cm, float)
    z = target - eye
    z /= np.linalg.norm(z)
    x = np.cross(z, [0.0, 1.0, 0.0])
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    R = np.stack([x, y, z])
    rvec = cv2.Rodrigues(R)[0].ravel()
    return {"name": name, "size": [1920, 1080], "matrix": [[1600.0, 0, 960.0], [0, 1600.0, 540.0], [0, 0, 1]],
            "distortions": [0.0] * 5, "rotation": rvec.tolist(), "translation": (-R @ eye).tolist()}


@pytest.fixture
def root(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    (tmp_path / "keypoints3d").mkdir()
    (tmp_path / "keypoints2d").mkdir()
    (tmp_path / "cameras").mkdir()
    for seq in (SEQ, BAD):
        raw = _coco_cm(rng)
        with (tmp_path / "keypoints3d" / f"{seq}.pkl").open("wb") as f:
            pickle.dump({"keypoints3d": raw, "keypoints3d_optim": raw + 1.0}, f)
    with (tmp_path / "keypoints2d" / f"{SEQ}.pkl").open("wb") as f:
        pickle.dump({"keypoints2d": rng.uniform(0, 1000, size=(9, T, 17, 3)), "det_scores": np.ones((9, T)),
                     "timestamps": np.arange(T)}, f)
    cams = [_camera_params("c01", [0, 150, 600], [0, 90, 0]), _camera_params("c02", [-500, 200, 300], [0, 90, 0])]
    (tmp_path / "cameras" / "setting1.json").write_text(json.dumps(cams))
    (tmp_path / "cameras" / "mapping.txt").write_text(f"{SEQ} setting1\n{BAD} setting1\n")
    (tmp_path / "ignore_list.txt").write_text(f"{BAD}\n")
    return tmp_path


def _raw(root: Path, seq: str, key: str) -> np.ndarray:
    with (root / "keypoints3d" / f"{seq}.pkl").open("rb") as f:
        return pickle.load(f)[key]


def test_sequences_respect_ignore_list(root):
    ds = AISTDataset(root)
    assert ds.sequences() == [SEQ]
    assert ds.sequences(include_ignored=True) == sorted([SEQ, BAD])
    assert ds.fps == FPS == 60.0 and ds.setting(SEQ) == "setting1"


def test_positions_are_metres_z_up(root):
    ds = AISTDataset(root)
    raw = _raw(root, SEQ, "keypoints3d_optim")
    pos = ds.positions_coco(SEQ)
    assert pos.shape == (T, 17, 3)
    np.testing.assert_allclose(pos[..., 2], raw[..., 1] / 100)  # file Y (up) becomes Z
    np.testing.assert_allclose(pos[..., 0], raw[..., 0] / 100)
    np.testing.assert_allclose(pos[..., 1], -raw[..., 2] / 100)  # right-handed: file Z becomes -Y
    assert (pos[:, 0, 2] > 1.4).all() and (pos[:, 15, 2] < 0.2).all()  # nose high, ankles low
    # keypoints3d_optim = keypoints3d + 1 cm on every file axis
    np.testing.assert_allclose(ds.positions_coco(SEQ, optimized=False), pos - [0.01, -0.01, 0.01])


def test_canonical_mapping_and_nan_handling(root):
    ds = AISTDataset(root)
    coco = ds.positions_coco(SEQ)
    canon, avail = ds.positions_canonical(SEQ)
    assert canon.shape == (T, CANONICAL.num_joints, 3)
    np.testing.assert_allclose(canon[:, CANONICAL.index("left_knee")], coco[:, 13])
    np.testing.assert_allclose(canon[:, CANONICAL.index("head")], coco[:, 0])
    assert avail[0, CANONICAL.index("pelvis")] == 0 and avail[0, CANONICAL.index("right_ankle")] == 1
    path = root / "keypoints3d" / f"{SEQ}.pkl"
    raw = _raw(root, SEQ, "keypoints3d_optim")
    raw[2, 13] = np.nan
    with path.open("wb") as f:
        pickle.dump({"keypoints3d": raw, "keypoints3d_optim": raw}, f)
    canon, avail = AISTDataset(root).positions_canonical(SEQ)
    assert avail[2, CANONICAL.index("left_knee")] == 0 and avail[1, CANONICAL.index("left_knee")] == 1
    assert np.isfinite(canon).all()


@pytest.mark.parametrize("view", ["c01", "c02"])
def test_camera_projects_like_opencv_on_the_raw_files(root, view):
    """Converted points through converted cameras hit the pixels cv2.projectPoints gives for the raw data."""
    ds = AISTDataset(root)
    params = {p["name"]: p for p in json.loads((root / "cameras" / "setting1.json").read_text())}[view]
    raw = _raw(root, SEQ, "keypoints3d_optim").reshape(-1, 3)
    expected, _ = cv2.projectPoints(raw, np.array(params["rotation"]), np.array(params["translation"]),
                                    np.array(params["matrix"]), np.zeros(5))
    cam = ds.camera(SEQ, view)
    got = cam.project(ds.positions_coco(SEQ)).reshape(-1, 2)
    np.testing.assert_allclose(got, expected.reshape(-1, 2), atol=1e-6)
    assert (cam.width, cam.height) == (1920, 1080)
    assert cam.center[2] > 1.0  # the camera hangs 1.5-2 m above the floor in Z-up metres
    np.testing.assert_allclose(np.linalg.det(cam.R), 1.0)


def test_keypoints_2d_by_view(root):
    ds = AISTDataset(root)
    kp, score = ds.keypoints_2d(SEQ, "c03")
    with (root / "keypoints2d" / f"{SEQ}.pkl").open("rb") as f:
        raw = pickle.load(f)["keypoints2d"]
    np.testing.assert_allclose(kp, raw[VIEWS.index("c03"), ..., :2])
    np.testing.assert_allclose(score, raw[2, ..., 2])
    with pytest.raises(ValueError):
        ds.keypoints_2d(SEQ, "c10")


def test_bad_input(tmp_path, root):
    with pytest.raises(InputNotFoundError):
        AISTDataset(tmp_path / "missing")
    ds = AISTDataset(root)
    with pytest.raises(InputNotFoundError, match="nope.pkl"):
        ds.positions_coco("nope")
    with (root / "keypoints3d" / f"{SEQ}.pkl").open("wb") as f:
        pickle.dump({"joints": np.zeros((2, 17, 3))}, f)
    with pytest.raises(DataFormatError, match=rf"{SEQ}\.pkl.*keypoints3d_optim"):
        ds.positions_coco(SEQ)
    with (root / "keypoints3d" / f"{SEQ}.pkl").open("wb") as f:
        pickle.dump({"keypoints3d_optim": np.zeros((2, 24, 3))}, f)
    with pytest.raises(DataFormatError, match=r"\(T, 17, 3\)"):
        ds.positions_coco(SEQ)
    with pytest.raises(KeyError, match="mapping.txt"):
        ds.setting("unknown_seq")
    with pytest.raises(KeyError, match="c09"):
        ds.camera(SEQ, "c09")
    (root / "cameras" / "setting1.json").write_text(json.dumps([{"name": "c01"}]))
    with pytest.raises(DataFormatError, match="setting1.json"):
        ds.camera(SEQ, "c01")
    (root / "cameras" / "mapping.txt").write_text("one two three\n")
    with pytest.raises(DataFormatError, match="mapping.txt:1"):
        AISTDataset(root).setting(SEQ)
    with pytest.raises(ValueError):
        AISTDataset(root, up_axis="x")
