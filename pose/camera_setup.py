"""Camera intrinsics for a video: from a focal length, a calibration file, or a field-of-view assumption.

Precedence in :func:`resolve_camera`: a calibration file, else a focal length in pixels, else the
field of view (default :data:`DEFAULT_FOV_DEG` horizontal, about a phone's main camera). The principal
point is the image centre unless the calibration gives one; pixels are square. Extrinsics are left
as identity here: the kinematic fit defines the world frame and stores them.
"""

from __future__ import annotations

import logging
import tomllib
from pathlib import Path

import numpy as np

from phymo.data.camera import Camera
from phymo.data.errors import DataFormatError, require_file

log = logging.getLogger(__name__)

#: horizontal field of view assumed when nothing else is known, degrees (of the longer image side).
DEFAULT_FOV_DEG = 60.0


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


def load_calibration_toml(path: str | Path, name: str | None = None, width: int | None = None,
                          height: int | None = None) -> Camera:
    """Intrinsics and extrinsics of one camera from a Pose2Sim/Sports2D TOML calibration.

    Each camera is a table with ``size = [w, h]``, ``matrix`` (3x3 K), ``rotation`` (Rodrigues vector,
    world->camera) and ``translation`` (metres). ``name`` picks the table (default: the first). When the
    video's ``width, height`` differ from ``size``, K is scaled to the video. Distortion is ignored.
    """
    path = require_file(path)
    try:
        data = tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise DataFormatError(f"{path}: not a TOML file ({exc})") from None
    cams = {k: v for k, v in data.items() if isinstance(v, dict) and "matrix" in v}
    if not cams:
        raise DataFormatError(f"{path}: no camera table with a 'matrix' entry (Pose2Sim calibration format)")
    if name is not None and name not in cams:
        raise DataFormatError(f"{path}: no camera {name!r}; cameras: {', '.join(cams)}")
    c = cams[name or next(iter(cams))]
    try:
        K = np.asarray(c["matrix"], dtype=np.float64).reshape(3, 3)
        size = [int(v) for v in c.get("size", (width, height))]
        rvec = np.asarray(c.get("rotation", (0, 0, 0)), dtype=np.float64).reshape(3)
        t = np.asarray(c.get("translation", (0, 0, 0)), dtype=np.float64).reshape(3)
    except (TypeError, ValueError) as exc:
        raise DataFormatError(f"{path}: malformed camera entry ({exc})") from None
    from scipy.spatial.transform import Rotation

    sx = sy = 1.0
    w, h = size
    if width and height and (width, height) != (w, h):
        sx, sy = width / w, height / h
        log.warning("%s: calibration is for %dx%d, video is %dx%d; scaling intrinsics", path, w, h, width, height)
        w, h = width, height
    return Camera(K[0, 0] * sx, K[1, 1] * sy, K[0, 2] * sx, K[1, 2] * sy, w, h,
                  Rotation.from_rotvec(rvec).as_matrix(), t)


def resolve_camera(width: int, height: int, focal_px: float | None = None, calibration: str | Path | None = None,
                   camera_name: str | None = None, fov_deg: float = DEFAULT_FOV_DEG) -> tuple[Camera, str]:
    """The camera for a ``width x height`` video and a word on where it came from (logged)."""
    if calibration is not None:
        cam, how = load_calibration_toml(calibration, camera_name, width, height), f"calibration {calibration}"
    elif focal_px is not None:
        cam, how = camera_from_focal(width, height, focal_px), f"focal {focal_px:g} px (user)"
    else:
        cam, how = camera_from_fov(width, height, fov_deg), f"assumed {fov_deg:g} deg field of view"
    log.info("camera: fx=%.1f fy=%.1f cx=%.1f cy=%.1f (%s)", cam.fx, cam.fy, cam.cx, cam.cy, how)
    return cam, how
