"""Human3.6M in the common preprocessed (VideoPose3D) layout, with its cameras.

Files under the dataset root:

- ``data_3d_h36m.npz``: key ``positions_3d``, a pickled dict ``positions_3d[subject][action]`` of float32
  ``(T, 32, 3)`` joint positions in the Human3.6M world frame (Z up), metres, 50 Hz.
- ``data_2d_h36m_<name>.npz`` (``<name>`` e.g. ``gt``, ``cpn_ft_h36m_dbb``): key ``positions_2d``, a pickled
  dict ``positions_2d[subject][action]`` = list of 4 arrays ``(T, 17, 2)`` in pixels, one per camera in
  :data:`CAMERA_IDS` order, and key ``metadata`` (``num_joints``, ``keypoints_symmetry``).
- cameras: karfly's ``camera-parameters.json`` (intrinsics per camera id; extrinsics per subject and
  camera id, ``R`` world->camera and ``t`` in millimetres) or mmpose's ``cameras.pkl`` (dict keyed by
  ``(subject, camera_id)`` with ``R`` camera->world, ``T`` the camera centre in metres, ``f``, ``c``).

The Human3.6M world frame is already Z up, so positions keep their coordinates (mm -> m only in the
raw files). Cameras map world metres to OpenCV camera coordinates; lens distortion is ignored
(under 2.5 px on the mmpose test frames). Raw ``D3_Positions/*.cdf`` files are not read: that needs
a CDF reader (cdflib), which is not a dependency; convert them with VideoPose3D's
``prepare_data_h36m.py`` first.
"""

from __future__ import annotations

import json
import pickle
import re
from functools import cached_property
from pathlib import Path

import numpy as np

from .camera import Camera
from .errors import DataFormatError, InputNotFoundError, require_file
from .observations import Observations
from .skeleton import H36M_17, H36M_17_FROM_32

#: Standard protocol split (protocols #1 and #2 of the Human3.6M literature).
TRAIN_SUBJECTS = ("S1", "S5", "S6", "S7", "S8")
TEST_SUBJECTS = ("S9", "S11")
#: Camera serials in the order the 2D files list their four views.
CAMERA_IDS = ("54138969", "55011271", "58860488", "60457274")
#: Image size ``(width, height)`` in pixels per camera id.
IMAGE_SIZES = {"54138969": (1000, 1002), "55011271": (1000, 1000), "58860488": (1000, 1000),
               "60457274": (1000, 1002)}
#: Capture rate of the mocap and the videos, Hz.
FPS = 50.0
#: The 15 action groups.
ACTIONS = ("Directions", "Discussion", "Eating", "Greeting", "Phoning", "Photo", "Posing", "Purchases",
           "Sitting", "SittingDown", "Smoking", "Waiting", "WalkDog", "Walking", "WalkTogether")
_ACTION_ALIASES = {"TakingPhoto": "Photo", "WalkingDog": "WalkDog"}

FILE_3D = "data_3d_h36m.npz"


def normalize_action(name: str) -> str:
    """The action group of a clip name: ``"Walking 1"``, ``"Walking_1"``, ``"WalkingDog 1"`` -> ``"Walking"``, ..."""
    base = re.split(r"[ _.]", name.strip(), maxsplit=1)[0]
    return _ACTION_ALIASES.get(base, base)


def _camera_from_world_to_camera(cam_id: str, K: np.ndarray, R: np.ndarray, t_m: np.ndarray) -> Camera:
    w, h = IMAGE_SIZES[cam_id]
    return Camera(float(K[0, 0]), float(K[1, 1]), float(K[0, 2]), float(K[1, 2]), w, h, R, t_m)


def load_cameras(path: str | Path) -> dict[tuple[str, str], Camera]:
    """All cameras of a Human3.6M calibration file, keyed by ``(subject, camera_id)``.

    Reads karfly's ``camera-parameters.json`` or mmpose's ``cameras.pkl`` (by suffix). The cameras map
    Human3.6M world points in metres to pixels (distortion ignored).
    """
    path = require_file(path)
    try:
        if path.suffix == ".json":
            return _cameras_from_json(json.loads(path.read_text()))
        if path.suffix == ".pkl":
            with path.open("rb") as f:
                return _cameras_from_pkl(pickle.load(f))
    except (KeyError, TypeError, ValueError, IndexError, pickle.UnpicklingError, EOFError) as e:
        raise DataFormatError(f"{path}: not a Human3.6M camera file ({type(e).__name__}: {e})") from e
    raise DataFormatError(f"{path}: unknown camera file type; expected karfly's .json or mmpose's cameras.pkl")


def _cameras_from_json(d: dict) -> dict[tuple[str, str], Camera]:
    out = {}
    for subject, per_cam in d["extrinsics"].items():
        for cam_id, ext in per_cam.items():
            K = np.asarray(d["intrinsics"][cam_id]["calibration_matrix"], dtype=np.float64)
            t = np.asarray(ext["t"], dtype=np.float64).reshape(3) / 1000.0
            out[(subject, cam_id)] = _camera_from_world_to_camera(cam_id, K, np.asarray(ext["R"]), t)
    return out


def _cameras_from_pkl(d: dict) -> dict[tuple[str, str], Camera]:
    out = {}
    for (subject, cam_id), p in d.items():
        R = np.asarray(p["R"], dtype=np.float64).T  # stored camera->world
        t = -R @ np.asarray(p["T"], dtype=np.float64).reshape(3)  # stored: camera centre, metres
        f, c = np.asarray(p["f"]).reshape(2), np.asarray(p["c"]).reshape(2)
        K = np.array([[f[0], 0.0, c[0]], [0.0, f[1], c[1]], [0.0, 0.0, 1.0]])
        out[(subject, str(cam_id))] = _camera_from_world_to_camera(str(cam_id), K, R, t)
    return out


def _read_npz(path: Path, required: str, optional: tuple[str, ...] = ()) -> dict:
    """The pickled dicts stored under ``required`` (and ``optional`` keys present) in a VideoPose3D npz."""
    require_file(path)
    try:
        npz = np.load(path, allow_pickle=True)
    except (OSError, ValueError, pickle.UnpicklingError, EOFError) as e:
        raise DataFormatError(f"{path}: not a readable .npz file ({e})") from e
    with npz:
        if required not in npz.files:
            raise DataFormatError(
                f"{path}: missing key '{required}' (has {sorted(npz.files)}); expected the VideoPose3D layout")
        out = {}
        for key in (required, *(k for k in optional if k in npz.files)):
            value = npz[key]
            if value.dtype != object or value.shape != () or not isinstance(value.item(), dict):
                raise DataFormatError(f"{path}: '{key}' must be a pickled dict, got {value.dtype} array {value.shape}")
            out[key] = value.item()
    return out


class H36MDataset:
    """Lazy reader of a Human3.6M root in the VideoPose3D layout.

    Args:
        root: folder holding ``data_3d_h36m.npz`` and/or ``data_2d_h36m_<keypoints>.npz``.
        keypoints: name of the 2D file (``gt``, ``cpn_ft_h36m_dbb``, ...).
        camera_file: calibration file for :func:`load_cameras`; default ``root/camera-parameters.json``.
        downsample: keep every ``downsample``-th frame (2 turns the 50 Hz data into the usual 25 Hz).
    """

    def __init__(self, root: str | Path, keypoints: str = "gt", camera_file: str | Path | None = None,
                 downsample: int = 1) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise InputNotFoundError(f"{self.root}: Human3.6M root folder does not exist")
        if downsample < 1:
            raise ValueError(f"downsample must be a positive integer, got {downsample}")
        self.downsample = int(downsample)
        self.path_3d = self.root / FILE_3D
        self.path_2d = self.root / f"data_2d_h36m_{keypoints}.npz"
        self.camera_file = Path(camera_file) if camera_file is not None else self.root / "camera-parameters.json"

    @property
    def fps(self) -> float:
        return FPS / self.downsample

    @cached_property
    def _positions_3d(self) -> dict:
        return _read_npz(self.path_3d, "positions_3d")["positions_3d"]

    @cached_property
    def _file_2d(self) -> dict:
        return _read_npz(self.path_2d, "positions_2d", ("metadata",))

    @property
    def _positions_2d(self) -> dict:
        return self._file_2d["positions_2d"]

    @property
    def metadata_2d(self) -> dict:
        """The 2D file's ``metadata`` (``num_joints``, ``keypoints_symmetry``)."""
        if "metadata" not in self._file_2d:
            raise DataFormatError(f"{self.path_2d}: missing key 'metadata'; expected the VideoPose3D layout")
        return self._file_2d["metadata"]

    @cached_property
    def _cameras(self) -> dict[tuple[str, str], Camera]:
        return load_cameras(self.camera_file)

    def _data(self) -> dict:
        return self._positions_3d if self.path_3d.exists() else self._positions_2d

    def subjects(self) -> list[str]:
        """Subjects present (from the 3D file, or the 2D file when there is no 3D file), e.g. ``S1``."""
        return sorted(self._data(), key=lambda s: int(s[1:]) if s[1:].isdigit() else s)

    def actions(self, subject: str) -> list[str]:
        """Clip names of ``subject`` as stored (e.g. ``"Walking 1"``); see :func:`normalize_action`."""
        data = self._data()
        if subject not in data:
            raise KeyError(f"subject {subject!r} not in {self.root} (has {sorted(data)})")
        return sorted(data[subject])

    def _clip(self, data: dict, path: Path, subject: str, action: str):
        try:
            return data[subject][action]
        except KeyError:
            raise KeyError(f"{path}: no clip {subject}/{action!r}") from None

    def positions_32(self, subject: str, action: str) -> np.ndarray:
        """``(T, 32, 3)`` all Human3.6M joints, world frame (Z up), metres, float64."""
        pos = np.asarray(self._clip(self._positions_3d, self.path_3d, subject, action), dtype=np.float64)
        if pos.ndim != 3 or pos.shape[1:] != (32, 3):
            raise DataFormatError(f"{self.path_3d}: {subject}/{action} has shape {pos.shape}, expected (T, 32, 3)")
        return pos[:: self.downsample]

    def positions_17(self, subject: str, action: str) -> np.ndarray:
        """``(T, 17, 3)`` the 17-joint subset (``skeleton.H36M_17_NAMES`` order), world frame, metres."""
        return self.positions_32(subject, action)[:, H36M_17_FROM_32]

    def positions_canonical(self, subject: str, action: str) -> tuple[np.ndarray, np.ndarray]:
        """``(T, J, 3)`` positions in canonical-skeleton order and ``(T, J)`` availability (1 mapped, 0 not)."""
        return H36M_17.to_canonical(self.positions_17(subject, action))

    def keypoints_2d(self, subject: str, action: str, camera_index: int) -> np.ndarray:
        """``(T, K, 2)`` pixels of one camera (index into :data:`CAMERA_IDS`), as stored in the 2D file.

        Frames beyond the 3D clip's length are trimmed when the 3D file is present (detections can be
        a few frames longer than the mocap, as VideoPose3D notes).
        """
        views = self._clip(self._positions_2d, self.path_2d, subject, action)
        if not 0 <= camera_index < len(views):
            raise IndexError(f"{self.path_2d}: {subject}/{action} has {len(views)} cameras, asked for {camera_index}")
        kp = np.asarray(views[camera_index], dtype=np.float64)
        if kp.ndim != 3 or kp.shape[2] < 2:
            raise DataFormatError(f"{self.path_2d}: {subject}/{action} camera {camera_index} has shape {kp.shape}")
        kp = kp[..., :2]
        if self.path_3d.exists() and action in self._positions_3d.get(subject, {}):
            kp = kp[: np.asarray(self._positions_3d[subject][action]).shape[0]]
        return kp[:: self.downsample]

    def camera(self, subject: str, camera_index: int) -> Camera:
        """The camera (world metres -> pixels) of ``subject`` and view ``camera_index`` (0..3)."""
        if not 0 <= camera_index < len(CAMERA_IDS):
            raise IndexError(f"Human3.6M has cameras 0..{len(CAMERA_IDS) - 1}, asked for {camera_index}")
        key = (subject, CAMERA_IDS[camera_index])
        if key not in self._cameras:
            raise KeyError(f"{self.camera_file}: no camera for {key}")
        return self._cameras[key]

    def observations(self, subject: str, action: str, camera_index: int) -> Observations:
        """A clip's 2D keypoints (17-joint files only) mapped to the canonical skeleton, with its camera."""
        kp = self.keypoints_2d(subject, action, camera_index)
        if kp.shape[1] != H36M_17.num_external:
            raise DataFormatError(f"{self.path_2d}: {kp.shape[1]} keypoints per frame; only the 17-joint "
                                  "Human3.6M order maps to the canonical skeleton")
        points, conf = H36M_17.to_canonical(kp)
        meta = {"source": "human3.6m", "file": str(self.path_2d), "subject": subject, "action": action,
                "action_group": normalize_action(action), "camera_id": CAMERA_IDS[camera_index],
                "downsample": self.downsample}
        return Observations(points, conf, self.camera(subject, camera_index), self.fps, None, meta)
