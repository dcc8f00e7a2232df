"""The on-disk cache of finished physics windows, so that a rerun recomputes nothing finished.

Each window is one ``window_XXXX.npz`` in a folder named after the cache format, the configuration,
the solver and a hash of the input (:func:`cache_folder`). A window's start state comes from the
window before it, so a cached window is valid exactly when every earlier one is: a resumed run reads
the windows it has in order and recomputes from the first missing one.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from phymo.data import Observations

from .config import ReconstructConfig
from .window import IterLog, Solver, WindowStatus

#: bumped when the cached window files change content, so that an old cache is not read as new
CACHE_VERSION = "w7"


def input_hash(obs: Observations) -> str:
    """16 hex digits of SHA-256 over the keypoints, confidences, kinematic estimate, camera and fps."""
    h = hashlib.sha256()
    for a in (obs.keypoints_2d, obs.confidence, obs.kinematic.root_translation, obs.kinematic.rotations):
        h.update(np.ascontiguousarray(a).tobytes())
    h.update(json.dumps(obs.camera.to_dict(), sort_keys=True).encode() + str(obs.fps).encode())
    return h.hexdigest()[:16]


def cache_folder(root: str | Path, obs: Observations, config: ReconstructConfig, solver: Solver) -> Path:
    """The folder of this input's windows under ``root`` (created)."""
    solver_key = hashlib.sha256(f"{solver.name}|{solver.steps}".encode()).hexdigest()[:8]
    folder = Path(root) / f"{CACHE_VERSION}-{config.key()}-{solver_key}-{input_hash(obs)}"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def save_window(path: Path, arrays: dict[str, np.ndarray], status: WindowStatus, reason: str, loss: float,
                terms: dict[str, float], trace: tuple[IterLog, ...], steps: int) -> None:
    """Write one window atomically (a cut write leaves no file, never a half one)."""
    meta = {"status": status.value, "reason": reason, "loss": loss, "terms": terms, "steps": steps,
            "trace": [[t.evaluation, t.loss, t.grad_norm, t.seconds] for t in trace]}
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, meta=json.dumps(meta), **arrays)
    tmp.replace(path)


def load_window(path: Path) -> tuple[dict[str, np.ndarray], dict]:
    """The arrays and metadata :func:`save_window` wrote; the metadata's status and trace are typed again."""
    with np.load(path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files if k != "meta"}
        meta = json.loads(str(z["meta"]))
    meta["status"] = WindowStatus(meta["status"])
    meta["trace"] = tuple(IterLog(int(e), *map(float, rest)) for e, *rest in meta["trace"])
    return arrays, meta
