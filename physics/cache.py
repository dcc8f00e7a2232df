"""The on-disk cache of finished physics windows, so that a rerun recomputes nothing finished.

Each window is one ``window_XXXX.npz`` in a folder named after the cache format, the configuration,
the solver and a hash of the input (:func:`cache_folder`). A window's start state comes from the
window before it, so a cached window is valid exactly when every earlier one is: a resumed run reads
the windows it has in order and recomputes from the first missing one.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path

import numpy as np

from phymo.data import Observations

from .config import ReconstructConfig
from .refine import IterLog, Solver
from .window import Failure, WindowResult, WindowSolution, WindowStatus

#: bumped when the cached window files change content, so that an old cache is not read as new
CACHE_VERSION = "w8"


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


def save_window(path: Path, solution: WindowSolution, result: WindowResult) -> None:
    """Write one window atomically (a cut write leaves no file, never a half one)."""
    meta = {"start": result.start, "stop": result.stop, "used_to": result.used_to, "status": result.status.value,
            "failures": [[f.value, d] for f, d in result.failures], "loss": result.loss, "steps": result.steps,
            "residual_share": result.residual_share,
            "trace": [[t.evaluation, t.loss, t.grad_norm, t.seconds] for t in result.trace]}
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, meta=json.dumps(meta), **dataclasses.asdict(solution))
    tmp.replace(path)


def load_window(path: Path) -> tuple[WindowSolution, WindowResult]:
    """The solution and result :func:`save_window` wrote (``cached`` set)."""
    with np.load(path, allow_pickle=False) as z:
        solution = WindowSolution(**{f.name: z[f.name] for f in dataclasses.fields(WindowSolution)})
        meta = json.loads(str(z["meta"]))
    trace = tuple(IterLog(int(e), *map(float, rest)) for e, *rest in meta["trace"])
    result = WindowResult(meta["start"], meta["stop"], meta["used_to"], WindowStatus(meta["status"]),
                          tuple((Failure(f), d) for f, d in meta["failures"]), float(meta["loss"]), meta["steps"],
                          trace, float(meta["residual_share"]), cached=True)
    return solution, result
