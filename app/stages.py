"""The pipeline's stages around their cache: timing, failure messages, cached results, the output folder.

Each stage's result is stored under ``OUT/cache`` keyed on a hash of its input and configuration, and
the run continues with the result *as re-read from the stored file*, so a first run and a resumed one
(``--resume``) hand identical inputs to the next stage: every later cache key (the physics windows' too)
matches, and nothing finished is recomputed. The outputs are written into a hidden staging folder and
moved into ``OUT`` only when all of them are done (:class:`OutputFolder`), so a failed run leaves
``OUT`` with its cache of finished stages and nothing else.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import re
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from phymo.data import Observations, PhymoError, observations_from_arrays, observations_to_arrays, save_npz

log = logging.getLogger(__name__)

#: names of the files a run writes into its output folder (a rerun removes those it no longer writes)
OUTPUT_NAMES = re.compile(r"(motion|kinematic)(_\d+)?\.(bvh|npz|json)|overlay\.mp4|loss\.png|plausibility\.png"
                          r"|report\.json|config\.json")


def content_hash(*parts) -> str:
    """16 hex digits of SHA-256 over ``parts``: bytes as they are, anything else as sorted JSON."""
    h = hashlib.sha256()
    for p in parts:
        h.update(p if isinstance(p, bytes) else json.dumps(p, sort_keys=True, default=str).encode())
    return h.hexdigest()[:16]


def file_identity(path: Path) -> dict:
    """What identifies an input file cheaply: its absolute path, size and modification time."""
    st = path.stat()
    return {"path": str(path.resolve()), "size": st.st_size, "mtime_ns": st.st_mtime_ns}


class StageError(PhymoError):
    """A stage failed; the message names the stage and how to continue."""


class Stages:
    """Runs stages: wall time per stage name in seconds (summed over segments, in first-run order), and a
    failure message that names the stage and says what ``--resume`` will reuse."""

    def __init__(self, cache: Path) -> None:
        self.cache = cache
        self.seconds: dict[str, float] = {}
        self.finished: list[str] = []

    def run(self, name: str, fn: Callable, *args, **kwargs):
        t0 = time.perf_counter()
        log.info("stage %s ...", name)
        try:
            result = fn(*args, **kwargs)
        except PhymoError as exc:
            raise StageError(f"stage {name} failed: {exc}{self._resume_hint(name)}") from None
        except KeyboardInterrupt:
            log.warning("interrupted in stage %s%s", name, self._resume_hint(name))
            raise
        except Exception:
            log.error("stage %s failed%s", name, self._resume_hint(name))
            raise
        finally:
            self.seconds[name] = round(self.seconds.get(name, 0.0) + time.perf_counter() - t0, 3)
        if name not in self.finished:
            self.finished.append(name)
        log.info("stage %s done in %.1f s", name, self.seconds[name])
        return result

    def _resume_hint(self, name: str) -> str:
        if not any(self.cache.rglob("*.npz")):
            return ""
        done = f"stages done: {', '.join(self.finished)}" if self.finished else "part of it"
        return (f"; the finished work ({done}) is kept in {self.cache}: after fixing the cause, rerun with "
                f"--resume to continue from the {name} stage")


def load_or_detect_keypoints(video: Path | None, keypoints: Path | None, config, cache: Path):
    """The person's keypoints: imported from ``keypoints``, or detected in ``video`` (cached; the run
    continues with the keypoints as re-read from the cache file, float32 like every later read)."""
    from phymo.pose import PersonChoice, detect_video, load_any, load_keypoints, probe_video

    person = None if config.person is None else PersonChoice.parse(config.person)
    info = probe_video(video) if video is not None else None
    if keypoints is not None:
        return load_any(keypoints, info.fps if info else None, info.width if info else None,
                        info.height if info else None, person=person)
    start = int(round(config.start * info.fps))
    end = None if config.end is None else int(round(config.end * info.fps))
    if start >= info.num_frames:
        raise PhymoError(f"--start {config.start} s is after the end of {video} ({info.num_frames / info.fps:.2f} s)")
    path = cache / f"keypoints-{content_hash(file_identity(video), start, end, config.detector, config.person)}.npz"
    if path.exists():
        log.info("keypoints: reusing %s", path)
    else:
        detect_video(video, config.detector, start, end, progress=True, person=person).save(path)
    return load_keypoints(path)


def kinematic_initialization(kp, config, cache: Path, ground=None) -> Observations:
    """Camera set-up and the kinematic 3D fit of keypoints ``kp``, on ``ground`` when given (a
    :class:`phymo.pose.Ground`, part of the cache key; else estimated under the body), cached; the run
    continues with the observations as re-read from the cache file."""
    from phymo.pose import initialize, resolve_camera

    camera, how = resolve_camera(kp.width, kp.height, config.focal, config.calibration, config.camera)
    key = content_hash(kp.points.tobytes(), kp.confidence.tobytes(), kp.frame_indices.tobytes(),
                       b"" if kp.world is None else kp.world.tobytes(), camera.to_dict(),
                       dataclasses.asdict(config.fit), dataclasses.asdict(config.filter),
                       *(() if ground is None else (ground.to_dict(),)), *_prior_identity(config.fit.prior))
    path = cache / f"kinematic-{key}.npz"
    if path.exists():
        log.info("kinematic fit: reusing %s", path)
    else:
        fit = initialize(kp, camera, config.fit, filter_config=config.filter, ground=ground)
        obs = fit.observations
        obs.meta = {**obs.meta, "camera_source": how,
                    "kinematic_reprojection_px": {"detected": fit.report["reproj_px_detected"],
                                                  "filtered": fit.report["reproj_px_filtered"]}}
        save_npz(path, observations_to_arrays(obs))
    with np.load(path, allow_pickle=False) as z:
        return observations_from_arrays(z)


def _prior_identity(prior: str) -> tuple:
    """What the fit's prior depends on beyond the settings: the lifter's weights (new weights refit)."""
    from phymo.pose.kinematic_fit import LIFTER_PRIORS

    if prior not in LIFTER_PRIORS:
        return ()
    from phymo.pose.lifter import WEIGHTS

    return (file_identity(WEIGHTS),)


class OutputFolder:
    """The output folder of one run: ``cache/`` for finished stages, a hidden staging folder for the
    outputs, moved into place by :meth:`publish` when every output is written.

    On an exception the staging folder is removed, and so are an empty cache and an output folder this
    run created and left empty.
    """

    def __init__(self, out: Path, resume: bool) -> None:
        self.out = Path(out)
        self.created = not self.out.exists()
        try:
            self.out.mkdir(parents=True, exist_ok=True)
            (self.out / ".write-test").touch()
            (self.out / ".write-test").unlink()
        except OSError as exc:
            raise PhymoError(f"cannot write to the output folder {self.out}: {exc.strerror or exc}") from None
        self.cache = self.out / "cache"
        if not resume and self.cache.exists():
            shutil.rmtree(self.cache)
        self.cache.mkdir(exist_ok=True)
        self.staging = self.out / ".staging"
        shutil.rmtree(self.staging, ignore_errors=True)

    def __enter__(self) -> OutputFolder:
        self.staging.mkdir()
        return self

    def __exit__(self, kind, exc, tb) -> None:
        shutil.rmtree(self.staging, ignore_errors=True)
        if kind is not None:
            if not any(p.is_file() for p in self.cache.rglob("*")):
                shutil.rmtree(self.cache, ignore_errors=True)
            if self.created and not any(self.out.iterdir()):
                self.out.rmdir()

    def publish(self) -> list[str]:
        """Move every staged file into the output folder, removing outputs of an earlier run that this run
        did not write; returns the names written."""
        names = sorted(p.name for p in self.staging.iterdir())
        for p in self.out.iterdir():
            if p.is_file() and OUTPUT_NAMES.fullmatch(p.name) and p.name not in names:
                p.unlink()
        for n in names:
            os.replace(self.staging / n, self.out / n)
        return names
