"""AIST++ annotations: 3D COCO keypoints and the multi-view cameras, converted to phymo's frame.

Layout of the annotation root (as released by google/aistplusplus_api):

- ``keypoints3d/<seq>.pkl``: pickled dict with ``keypoints3d`` and ``keypoints3d_optim``, each ``(T, 17, 3)``
  in COCO-17 order (the second is refined by bundle adjustment), world frame, 60 fps.
- ``keypoints2d/<seq>.pkl``: pickled dict with ``keypoints2d`` ``(9, T, 17, 3)`` (x, y in pixels, score) for
  views ``c01``..``c09``.
- ``cameras/<setting>.json``: list of 9 dicts ``name`` (``c01``..), ``size`` ``[w, h]``, ``matrix`` (3x3 K),
  ``distortions`` (5), ``rotation`` (Rodrigues vector, world->camera), ``translation`` (world->camera).
- ``cameras/mapping.txt``: lines ``<seq> <setting>``; ``ignore_list.txt``: sequences with bad annotations.

Sequence names carry ``cAll`` where video names carry the view (``gBR_sBM_cAll_d04_mBR0_ch01``).

Assumptions (not checkable without the data, hence parameters): the world frame is Y up and its unit
is the centimetre, for keypoints and camera translations alike (as aniposelib calibrations of the
AIST Dance DB are). The loader returns metres in phymo's Z-up frame: ``(x, y, z) -> (x, -z, y)``, a
proper rotation, with cameras changed to match, so projecting converted points gives the same pixels.
Lens distortion is ignored.
"""

from __future__ import annotations

import json
import pickle
from functools import cached_property
from pathlib import Path

import numpy as np

from .camera import Camera
from .errors import DataFormatError, InputNotFoundError, require_file
from .rotations import axis_angle_to_quat, quat_to_matrix
from .skeleton import COCO_17

#: Frame rate of AIST++ annotations, Hz.
FPS = 60.0
#: The nine views in the order of the 2D keypoint files.
VIEWS = tuple(f"c{i:02d}" for i in range(1, 10))

_UP = {"y": np.array([[1.0, 0, 0], [0, 0, -1], [0, 1, 0]]), "z": np.eye(3)}


def _read_pickle(path: Path) -> object:
    require_file(path)
    try:
        with path.open("rb") as f:
            return pickle.load(f)
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError) as e:
        raise DataFormatError(f"{path}: not a readable pickle ({e})") from e


class AISTDataset:
    """Reader of an AIST++ annotation root.

    Args:
        root: the annotation folder (holding ``keypoints3d/`` and ``cameras/``).
        units_per_metre: length unit of the files (100: centimetres).
        up_axis: world up axis of the files, ``"y"`` (AIST++) or ``"z"``.
    """

    def __init__(self, root: str | Path, units_per_metre: float = 100.0, up_axis: str = "y") -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise InputNotFoundError(f"{self.root}: AIST++ annotation folder does not exist")
        if up_axis not in _UP:
            raise ValueError(f"up_axis must be one of {sorted(_UP)}, got {up_axis!r}")
        if not units_per_metre > 0:
            raise ValueError(f"units_per_metre must be positive, got {units_per_metre}")
        self.units_per_metre = float(units_per_metre)
        #: ``(3, 3)`` rotation from the file's world frame to phymo's Z-up world frame.
        self.to_z_up = _UP[up_axis]

    @property
    def fps(self) -> float:
        return FPS

    @cached_property
    def _mapping(self) -> dict[str, str]:
        path = require_file(self.root / "cameras" / "mapping.txt")
        out = {}
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if not line.strip():
                continue
            parts = line.split()
            if len(parts) != 2:
                raise DataFormatError(f"{path}:{n}: expected '<sequence> <setting>', got {line!r}")
            out[parts[0]] = parts[1]
        return out

    @cached_property
    def _ignored(self) -> frozenset[str]:
        path = self.root / "ignore_list.txt"
        return frozenset(path.read_text().split()) if path.is_file() else frozenset()

    def sequences(self, include_ignored: bool = False) -> list[str]:
        """Sequence names with a 3D keypoint file, without those in ``ignore_list.txt`` unless asked."""
        folder = self.root / "keypoints3d"
        if not folder.is_dir():
            raise InputNotFoundError(f"{folder}: no keypoints3d folder in the AIST++ root")
        names = sorted(p.stem for p in folder.glob("*.pkl"))
        return names if include_ignored else [n for n in names if n not in self._ignored]

    def _to_world(self, points: np.ndarray) -> np.ndarray:
        return points @ self.to_z_up.T / self.units_per_metre

    def positions_coco(self, seq: str, optimized: bool = True) -> np.ndarray:
        """``(T, 17, 3)`` COCO-17 keypoints, phymo world frame (Z up), metres; NaN where the file has NaN.

        Args:
            seq: sequence name (``..._cAll_...``).
            optimized: ``keypoints3d_optim`` (bundle-adjusted) instead of ``keypoints3d``.
        """
        path = self.root / "keypoints3d" / f"{seq}.pkl"
        data = _read_pickle(path)
        key = "keypoints3d_optim" if optimized else "keypoints3d"
        if not isinstance(data, dict) or key not in data:
            keys = sorted(data) if isinstance(data, dict) else type(data).__name__
            raise DataFormatError(f"{path}: missing key '{key}' (has {keys})")
        points = np.asarray(data[key], dtype=np.float64)
        if points.ndim != 3 or points.shape[1:] != (17, 3):
            raise DataFormatError(f"{path}: '{key}' has shape {points.shape}, expected (T, 17, 3)")
        return self._to_world(points)

    def positions_canonical(self, seq: str, optimized: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """``(T, J, 3)`` positions in canonical-skeleton order (metres, Z up) and ``(T, J)`` availability.

        Availability is 1 where COCO-17 maps the joint and the value is finite, else 0 (position 0).
        """
        coco = self.positions_coco(seq, optimized)
        finite = np.isfinite(coco).all(axis=-1)
        points, avail = COCO_17.to_canonical(np.where(finite[..., None], coco, 0.0), finite.astype(np.float64))
        return points, avail

    def keypoints_2d(self, seq: str, view: str) -> tuple[np.ndarray, np.ndarray]:
        """``(T, 17, 2)`` COCO-17 pixels and ``(T, 17)`` scores of one view (``c01``..``c09``)."""
        if view not in VIEWS:
            raise ValueError(f"view must be one of {VIEWS}, got {view!r}")
        path = self.root / "keypoints2d" / f"{seq}.pkl"
        data = _read_pickle(path)
        if not isinstance(data, dict) or "keypoints2d" not in data:
            raise DataFormatError(f"{path}: missing key 'keypoints2d'")
        kp = np.asarray(data["keypoints2d"], dtype=np.float64)
        if kp.ndim != 4 or kp.shape[0] != len(VIEWS) or kp.shape[2:] != (17, 3):
            raise DataFormatError(f"{path}: 'keypoints2d' has shape {kp.shape}, expected (9, T, 17, 3)")
        view_kp = kp[VIEWS.index(view)]
        return view_kp[..., :2], view_kp[..., 2]

    def setting(self, seq: str) -> str:
        """The camera setting (environment) name of a sequence, from ``cameras/mapping.txt``."""
        if seq not in self._mapping:
            raise KeyError(f"{self.root / 'cameras' / 'mapping.txt'}: no entry for sequence {seq!r}")
        return self._mapping[seq]

    def cameras(self, setting: str) -> dict[str, Camera]:
        """Every camera of a setting, by view name, mapping phymo world metres (Z up) to pixels."""
        path = require_file(self.root / "cameras" / f"{setting}.json")
        try:
            params = json.loads(path.read_text())
            out = {}
            for p in params:
                K = np.asarray(p["matrix"], dtype=np.float64).reshape(3, 3)
                rot = quat_to_matrix(axis_angle_to_quat(np.asarray(p["rotation"], dtype=np.float64).reshape(3)))
                t = np.asarray(p["translation"], dtype=np.float64).reshape(3) / self.units_per_metre
                w, h = (int(v) for v in p["size"])
                # X_cam = rot X_file + t and X_file = A^T X_zup * units  =>  R = rot A^T on metres
                out[str(p["name"])] = Camera(K[0, 0], K[1, 1], K[0, 2], K[1, 2], w, h, rot @ self.to_z_up.T, t)
        except (KeyError, TypeError, ValueError) as e:
            raise DataFormatError(f"{path}: not an AIST++ camera file ({type(e).__name__}: {e})") from e
        return out

    def camera(self, seq: str, name: str) -> Camera:
        """The camera ``name`` (``c01``..``c09``) of the setting ``seq`` was filmed in."""
        cams = self.cameras(self.setting(seq))
        if name not in cams:
            raise KeyError(f"{self.root / 'cameras' / self.setting(seq)}.json: no camera {name!r} (has {sorted(cams)})")
        return cams[name]
