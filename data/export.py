"""Motion export to NPZ (no pickle) and JSON, written atomically.

Both files carry the same content: the motion in phymo's internal frame (Z up, metres), joint
names and parents, per-frame world joint positions and local rotations (w-first quaternions), plus
any named per-frame extras the caller adds (``qpos``, ``torques``, ``contacts``, 2D keypoints, ...)
and the camera. ``units`` and ``up_axis`` are stored so other tools need not guess.
"""

from __future__ import annotations

import json
import os
import secrets
import zipfile
from collections.abc import Mapping
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from .camera import Camera
from .motion import Motion

SCHEMA_VERSION = 1


@contextmanager
def atomic_target(path: Path):
    """Yield a temporary path beside ``path``; on success rename it onto ``path``, else delete it.

    Readers never see a half-written file, and an interrupted write leaves the old file intact. The file
    gets the usual permissions (0666 less the umask; ``tempfile.mkstemp`` would leave it private, 0600).
    """
    path = Path(path)
    while True:
        tmp = path.parent / f".{path.stem}.{secrets.token_hex(6)}{path.suffix}"
        try:
            os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
            break
        except FileExistsError:
            continue
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


def atomic_write_bytes(path: Path, data: bytes) -> Path:
    with atomic_target(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def atomic_write_json(path: Path, obj) -> Path:
    """Strict JSON (NaN and inf become ``null``, which web tools can parse), written atomically."""
    return atomic_write_bytes(path, (json.dumps(_plain(obj), indent=1, allow_nan=False) + "\n").encode())


def _plain(o):
    """``o`` as JSON-native values: arrays as nested lists, non-finite floats as None."""
    if isinstance(o, dict):
        return {str(k): _plain(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_plain(v) for v in o]
    if isinstance(o, np.ndarray):
        return _plain(o.tolist())
    if isinstance(o, np.generic):
        return _plain(o.item())
    if isinstance(o, float):
        return o if np.isfinite(o) else None
    if isinstance(o, Path):
        return str(o)
    if o is None or isinstance(o, (str, int, bool)):
        return o
    raise TypeError(f"cannot serialise {type(o).__name__} to JSON")


def motion_arrays(motion: Motion, camera: Camera | None = None, extras: Mapping[str, np.ndarray] | None = None,
                  frame_index: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """The export content as a flat dict of arrays (the NPZ keys; see the README's table).

    ``frame_index (T,)`` says which input frame each row is (default ``0..T-1``).
    """
    index = np.arange(motion.num_frames) if frame_index is None else np.asarray(frame_index, dtype=np.int64)
    if index.shape != (motion.num_frames,):
        raise ValueError(f"frame_index must have one entry per frame ({motion.num_frames}), got {index.shape}")
    out = {
        "schema_version": np.array(SCHEMA_VERSION),
        "fps": np.array(float(motion.fps)),
        "frame_index": index,
        "joint_names": np.array(motion.skeleton.names),
        "parents": np.array(motion.skeleton.parents),
        "offsets": motion.skeleton.offsets,
        "root_translation": motion.root_translation,
        "rotations": motion.rotations,
        "positions": motion.positions(),
        "units": np.array("m"),
        "up_axis": np.array("z"),
    }
    if camera is not None:
        out |= {"camera_K": camera.K, "camera_R": camera.R, "camera_t": camera.t,
                "image_size": np.array([camera.width, camera.height])}
    for k, v in (extras or {}).items():
        if k in out:
            raise ValueError(f"extra {k!r} would overwrite a standard export key")
        out[k] = np.asarray(v)
    return out


def save_npz(path: Path, arrays: Mapping[str, np.ndarray]) -> Path:
    """Write arrays to a compressed, pickle-free ``.npz`` atomically, byte for byte the same for the same
    arrays (every member is stamped 1980-01-01; ``np.savez`` stamps the time of writing)."""
    with atomic_target(path) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
        for k, v in arrays.items():
            info = zipfile.ZipInfo(f"{k}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            with zf.open(info, "w", force_zip64=True) as f:
                np.lib.format.write_array(f, np.asarray(v), allow_pickle=False)
    return Path(path)


def save_json(path: Path, arrays: Mapping[str, np.ndarray], meta: Mapping | None = None) -> Path:
    """The same content as JSON (arrays as nested lists) for web tools, plus ``meta``."""
    return atomic_write_json(path, {**{k: np.asarray(v) for k, v in arrays.items()}, "meta": dict(meta or {})})
