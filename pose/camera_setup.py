"""Camera intrinsics for a video: from a focal length, a calibration file, or a field-of-view assumption.

Precedence in :func:`resolve_camera`: a calibration file, else a focal length in pixels, else the
field of view (default :data:`DEFAULT_FOV_DEG` across the longer image side, about a phone's main
camera; measured 1.1 % short of the calibrated focal on the shared Pose2Sim phone view). The principal
point is the image centre unless the calibration gives one; pixels are square. Extrinsics are left
as identity here: the kinematic fit defines the world frame and stores them.

Calibration files (:func:`read_calibration`), each camera with intrinsics and extrinsics world->camera
(OpenCV axes, metres); lens distortion is ignored:

- Pose2Sim/Sports2D TOML: a table per camera with ``name``, ``size = [w, h]``, ``matrix`` (3x3 K),
  ``rotation`` (Rodrigues vector, world->camera) and ``translation`` (metres).
- Qualisys ``.qca.txt`` (XML), read as Pose2Sim reads it: a ``camera`` element per camera, named by
  its ``serial``; image size from ``fov_video`` (right - left + 1 by bottom - top + 1); focal lengths
  and principal point in 1/64 pixel (the principal point then minus ``fov_video`` left/top);
  ``transform`` is the camera's pose in the world (position in mm, rotation ``r11..r33`` stored by
  column), inverted to world->camera and turned by pi about the camera x axis into OpenCV axes.
"""

from __future__ import annotations

import logging
import tomllib
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np

from phymo.data import Camera, DataFormatError, require_file

log = logging.getLogger(__name__)

#: horizontal field of view assumed when nothing else is known, degrees (of the longer image side).
DEFAULT_FOV_DEG = 60.0
#: video encoders pad frame sizes up to a multiple of 16 px; a calibration made on padded frames fits as it is
_PADDING_PX = 16


def camera_from_focal(width: int, height: int, focal_px: float) -> Camera:
    """Square pixels of focal length ``focal_px``, principal point at the image centre."""
    if not focal_px > 0:
        raise ValueError(f"focal length must be positive, got {focal_px}")
    return Camera(focal_px, focal_px, width / 2.0, height / 2.0, width, height)


def camera_from_fov(width: int, height: int, fov_deg: float = DEFAULT_FOV_DEG) -> Camera:
    """A field of view ``fov_deg`` across the longer image side (portrait videos keep a sensible focal)."""
    if not 1.0 < fov_deg < 179.0:
        raise ValueError(f"field of view must be in (1, 179) degrees, got {fov_deg}")
    return camera_from_focal(width, height, 0.5 * max(width, height) / np.tan(np.radians(fov_deg) / 2))


def read_calibration(path: str | Path) -> dict[str, Camera]:
    """Every camera of a calibration file (Pose2Sim TOML or Qualisys ``.qca.txt``) by name, at its own image size."""
    path = require_file(path)
    try:
        text = path.read_text()
    except UnicodeDecodeError:
        raise DataFormatError(f"{path}: not a text file (a calibration .toml or .qca.txt expected)") from None
    cams = _read_qca(path, text) if text.lstrip().startswith("<") else _read_toml(path, text)
    if not cams:
        raise DataFormatError(f"{path}: no camera in it (Pose2Sim TOML tables with 'matrix', or Qualisys "
                              "<camera> elements expected)")
    return cams


def _read_toml(path: Path, text: str) -> dict[str, Camera]:
    from scipy.spatial.transform import Rotation

    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise DataFormatError(f"{path}: not a TOML file ({exc})") from None
    cams = {}
    for key, c in data.items():
        if not (isinstance(c, dict) and "matrix" in c):
            continue
        try:
            K = np.asarray(c["matrix"], dtype=np.float64).reshape(3, 3)
            w, h = (int(v) for v in c["size"])
            rvec = np.asarray(c.get("rotation", (0, 0, 0)), dtype=np.float64).reshape(3)
            t = np.asarray(c.get("translation", (0, 0, 0)), dtype=np.float64).reshape(3)
            cams[str(c.get("name", key))] = Camera(K[0, 0], K[1, 1], K[0, 2], K[1, 2], w, h,
                                                   Rotation.from_rotvec(rvec).as_matrix(), t)
        except (KeyError, TypeError, ValueError) as exc:
            raise DataFormatError(f"{path}: camera [{key}] is malformed ({type(exc).__name__}: {exc}); it needs "
                                  "size, matrix, rotation and translation") from None
    return cams


def _read_qca(path: Path, text: str) -> dict[str, Camera]:
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        raise DataFormatError(f"{path}: not a Qualisys calibration (XML: {exc})") from None
    cams = {}
    flip = np.diag([1.0, -1.0, -1.0])  # pi about the camera x axis: Qualisys camera axes to OpenCV's
    for n, cam in enumerate(root.iter("camera")):
        try:
            fov, tr, intr = (cam.find(tag).attrib for tag in ("fov_video", "transform", "intrinsic"))
            left, top = float(fov["left"]), float(fov["top"])
            w, h = int(float(fov["right"]) - left + 1), int(float(fov["bottom"]) - top + 1)
            pose_rotation = np.array([[float(tr[f"r{i}{j}"]) for j in (1, 2, 3)] for i in (1, 2, 3)]).T
            centre = np.array([float(tr[k]) for k in "xyz"]) / 1000.0
            R = flip @ pose_rotation.T
            cams[cam.get("serial", f"camera{n + 1}")] = Camera(
                float(intr["focalLengthU"]) / 64, float(intr["focalLengthV"]) / 64,
                float(intr["centerPointU"]) / 64 - left, float(intr["centerPointV"]) / 64 - top, w, h,
                R, -R @ centre)
        except (AttributeError, KeyError, ValueError) as exc:
            raise DataFormatError(f"{path}: camera {n + 1} lacks or garbles fov_video, transform or intrinsic "
                                  f"({type(exc).__name__}: {exc})") from None
    return cams


def load_calibration(path: str | Path, name: str | None = None, width: int | None = None,
                     height: int | None = None) -> Camera:
    """One camera of a calibration file (:func:`read_calibration`), fitted to a ``width x height`` video.

    ``name`` picks the camera (default: the first). When the video is up to 15 px smaller than the
    calibration's image in each dimension (an encoder's padding to a multiple of 16), the intrinsics hold
    as they are; any other size difference scales them to the video, with a warning.
    """
    cams = read_calibration(path)
    if name is not None and name not in cams:
        raise DataFormatError(f"{path}: no camera {name!r}; cameras: {', '.join(cams)}")
    c = cams[name or next(iter(cams))]
    if not (width and height) or (width, height) == (c.width, c.height):
        return c
    if 0 <= c.width - width < _PADDING_PX and 0 <= c.height - height < _PADDING_PX:
        log.info("%s: calibration image %dx%d is the %dx%d video padded by the encoder; intrinsics kept",
                 path, c.width, c.height, width, height)
        return Camera(c.fx, c.fy, c.cx, c.cy, width, height, c.R, c.t)
    sx, sy = width / c.width, height / c.height
    log.warning("%s: calibration is for %dx%d, video is %dx%d; scaling intrinsics", path, c.width, c.height,
                width, height)
    return Camera(c.fx * sx, c.fy * sy, c.cx * sx, c.cy * sy, width, height, c.R, c.t)


def resolve_camera(width: int, height: int, focal_px: float | None = None, calibration: str | Path | None = None,
                   camera_name: str | None = None, fov_deg: float = DEFAULT_FOV_DEG) -> tuple[Camera, str]:
    """The camera for a ``width x height`` video and a word on where it came from (logged)."""
    if calibration is not None:
        cam = load_calibration(calibration, camera_name, width, height)
        how = f"calibration {Path(calibration).name}" + (f" camera {camera_name}" if camera_name else "")
    elif focal_px is not None:
        cam, how = camera_from_focal(width, height, focal_px), f"focal {focal_px:g} px (user)"
    else:
        cam, how = camera_from_fov(width, height, fov_deg), f"assumed {fov_deg:g} deg field of view"
    log.info("camera: fx=%.1f fy=%.1f cx=%.1f cy=%.1f (%s)", cam.fx, cam.fy, cam.cx, cam.cy, how)
    return cam, how
