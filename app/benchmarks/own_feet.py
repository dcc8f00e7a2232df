"""``phymo bench own-feet``: does the body stand on its own? Measured rung by rung.

- **Rung 1** (``--rung 1``): true motion capture as the reference, no video. Each clip of a corpus split,
  resampled to 30 fps and cut to ``--max-frames``, is seen exactly (keypoints: its joints projected by a
  seeded camera, confidence 1; kinematic estimate: the clip itself) and reconstructed as ``phymo
  reconstruct`` would, with the default settings. A row per clip: ``fell_at`` (first frame whose pelvis is
  below half its standing height or where a body part other than the feet and hands touches the ground),
  ``mpjpe_mm`` (root-aligned, against the clip), ``residual_share`` (mean residual root force over the body
  weight), ``assisted_windows``, ``cpu_s_per_video_s``, and a verdict against the bounds of the clip's kind
  (:data:`BOUNDS`, by its name).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from phymo.data import MocapCorpus, Observations, data_root, load_bvh_motion, metrics
from phymo.data.synthetic import random_camera
from phymo.optimizer import OptimizerConfig, window_solver
from phymo.physics import ROOT_POS, ReconstructConfig, WindowStatus, reconstruct
from phymo.physics.problem import touched_ground

#: kinds of clip by words in their file names, and the most root-aligned MPJPE (mm) a clip of that kind may
#: have with no fall and no residual (None: reported, no bound yet)
BOUNDS = {"walk": (("walk", "turn", "stand", "idle", "gesture", "wave"), 40.0),
          "run": (("run", "dash", "jog"), 60.0),
          "other": ((), None)}
FPS = 30.0


def kind_of(name: str) -> str:
    """The :data:`BOUNDS` kind of a clip named ``name`` (runs before walks: "walk-run" is a run)."""
    low = name.lower()
    for kind in ("run", "walk"):
        if any(word in low for word in BOUNDS[kind][0]):
            return kind
    return "other"


def exact_observations(motion, seed: int = 0) -> Observations:
    """``motion`` seen exactly: its joints projected by a seeded :func:`random_camera`, confidence 1, and itself as
    the kinematic estimate."""
    camera = random_camera(motion, np.random.default_rng(seed))
    keypoints = camera.project(motion.positions())
    return Observations(keypoints, np.ones(keypoints.shape[:2]), camera, motion.fps, motion, {"source": "mocap"})


def rung1_row(path: Path, name: str, max_frames: int, config: ReconstructConfig, optimizer: OptimizerConfig) -> dict:
    """Rung 1 of one clip (see the module docstring)."""
    motion = load_bvh_motion(path).resample(FPS)
    motion = motion.slice(0, min(max_frames, motion.num_frames))
    obs = exact_observations(motion)
    wall, cpu = time.perf_counter(), time.process_time()
    rec = reconstruct(obs, config, window_solver(optimizer))
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    truth = motion.positions()
    pelvis = rec.qpos[:, ROOT_POS][:, 2]
    low = np.flatnonzero(pelvis < 0.5 * np.median(truth[:, 0, 2]))
    touched = touched_ground(rec.body, rec.qpos)
    falls = [int(low[0])] if len(low) else []
    falls += [touched] if touched is not None else []
    fell_at = min(falls) if falls else None
    simulated = rec.motion.positions()
    kind = kind_of(name)
    bound = BOUNDS[kind][1]
    residual_share = float(np.nanmean(rec.residual_force) / rec.body_weight_n)
    row = {"clip": name, "kind": kind, "frames": motion.num_frames, "fell_at": fell_at,
           "mpjpe_mm": 1e3 * metrics.mpjpe(simulated, truth),
           "mpjpe_global_mm": 1e3 * metrics.mpjpe_global(simulated, truth),
           "residual_share": residual_share, "assisted_windows": rec.count(WindowStatus.ASSISTED),
           "fell_back_windows": rec.count(WindowStatus.FELL_BACK), "windows": len(rec.windows),
           "cpu_s_per_video_s": cpu / (motion.num_frames / FPS), "wall_s_per_video_s": wall / (motion.num_frames / FPS)}
    ok = fell_at is None and residual_share == 0.0 and row["fell_back_windows"] == 0
    row["verdict"] = ("pass" if ok and row["mpjpe_mm"] <= bound else "fail") if bound is not None else (
        "stands" if ok else "falls")
    return row


def run(quick: bool = False, root: Path | None = None, split: str = "train", max_frames: int = 150,
        clips: list[str] | None = None) -> dict:
    """Rung 1 over the clips of ``split`` (or those whose names contain one of ``clips``)."""
    corpus = MocapCorpus(root or data_root())
    files = corpus.split(split)
    if clips:
        files = [f for f in files if any(c in f.name for c in clips)]
    if quick:
        files = files[:2]
        max_frames = min(max_frames, 45)
    config, optimizer = ReconstructConfig(), OptimizerConfig()
    rows = []
    for f in files:
        row = rung1_row(f, f.relative_to(corpus.root).as_posix(), max_frames, config, optimizer)
        print(", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in row.items()), flush=True)
        rows.append(row)
    settings = {"split": split, "max_frames": max_frames, "fps": FPS}
    return {"rows": rows, "summary": summarize(rows), "settings": settings}


def summarize(rows: list[dict]) -> dict:
    """Per kind: clips, falls, the median and largest MPJPE, the mean residual share, passes."""
    out = {}
    for kind in BOUNDS:
        rs = [r for r in rows if r["kind"] == kind]
        if rs:
            mp = [r["mpjpe_mm"] for r in rs]
            out[kind] = {"clips": len(rs), "fell": sum(r["fell_at"] is not None for r in rs),
                         "mpjpe_median_mm": float(np.median(mp)), "mpjpe_max_mm": float(np.max(mp)),
                         "residual_share_mean": float(np.mean([r["residual_share"] for r in rs])),
                         "passed": sum(r["verdict"] in ("pass", "stands") for r in rs),
                         "cpu_s_per_video_s_max": float(max(r["cpu_s_per_video_s"] for r in rs))}
    return out
