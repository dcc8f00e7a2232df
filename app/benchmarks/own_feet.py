"""``phymo bench own-feet``: does the body stand on its own? Measured rung by rung (``--rung 1|2|3``).

- **Rung 1** (``--rung 1``): true motion capture as the reference, no video. Each clip of a corpus split,
  resampled to 30 fps and cut to ``--max-frames``, is seen exactly (keypoints: its joints projected by a
  seeded camera, confidence 1; kinematic estimate: the clip itself) and reconstructed as ``phymo
  reconstruct`` would, with the default settings. A row per clip: ``fell_at`` (first frame whose pelvis is
  below half its standing height or where a body part other than the feet and hands touches the ground),
  ``mpjpe_mm`` (root-aligned, against the clip), ``residual_share`` (mean residual root force over the body
  weight), ``assisted_windows``, ``cpu_s_per_video_s``, and a verdict against the bounds of the clip's kind
  (:data:`BOUNDS`, by its name).
- **Rung 2** (``--rung 2``): motion capture seen through synthetic observations (``phymo evaluate --dataset
  mocap`` on ``--split``, 4 sequences of 90 frames, as docs/results.md measures it): a row per split with the
  physics beside the kinematic estimate and the truth's own skating, the windows per outcome and the share
  solved without the residual, and a verdict against :data:`RUNG2`.
- **Rung 3** (``--rung 3``): every real clip of the shared data through ``phymo reconstruct`` (the rows of
  ``phymo bench plausibility``, 0.01 px perturbation included), with a verdict against :data:`RUNG3`.
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
#: rung 2's bounds: physics MPJPE at most the residual-era figure (Optimus, docs/results.md) plus this, mm; at least
#: this share of windows solved without the residual; skating at most this times the truth's; penetration, mm
RUNG2 = {"mpjpe_before_mm": {"validation": 25.4, "test": 21.2}, "mpjpe_margin_mm": 5.0, "residual_free_share": 0.9,
         "skating_over_truth": 1.5, "penetration_mm": 2.0}
#: rung 3's bounds: the residual's mean share of body weight on standing, balancing and walking clips; physics
#: reprojection at most the kinematic one's plus this, px; floating, mm
RUNG3 = {"residual_share": 0.05, "reprojection_margin_px": 3.0, "floating_mm": 30.0}
#: the real clips that stand, balance or walk (the rest: sports, jumping jacks and a flip)
STANDING_CLIPS = ("pose2sim", "body3d", "multi_person", "street")


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
    names, heights = motion.skeleton.names, rec.standing_heights
    phys = metrics.plausibility(simulated, FPS, names, standing_heights=heights)
    true = metrics.plausibility(truth, FPS, names, standing_heights=heights)
    row |= {"skating": phys.foot_skating, "skating_truth": true.foot_skating, "floating_mm": phys.floating_mm,
            "penetration_mm": phys.penetration_mm}
    ok = fell_at is None and residual_share == 0.0 and row["fell_back_windows"] == 0
    row["verdict"] = ("pass" if ok and row["mpjpe_mm"] <= bound else "fail") if bound is not None else (
        "stands" if ok else "falls")
    return row


def rung2(root: Path, split: str, quick: bool, work: Path) -> dict:
    """Rung 2's row of ``split`` (see the module docstring)."""
    from .plausibility import mocap_row

    row = mocap_row(root, quick, work, split)
    windows = sum(row[f"{s.name.lower()}_windows"] for s in WindowStatus)
    free = row["optimized_windows"] + row["resolved_windows"]
    row["residual_free_share"] = free / windows if windows else float("nan")
    bound = RUNG2["mpjpe_before_mm"].get(split)
    checks = [row["residual_free_share"] >= RUNG2["residual_free_share"], row["fell_back_windows"] == 0,
              row["penetration_mm"] <= RUNG2["penetration_mm"]]
    if row.get("skating_truth") is not None:
        checks.append(row["skating"] <= RUNG2["skating_over_truth"] * row["skating_truth"])
    if bound is not None:
        checks.append(row["mpjpe"] <= bound + RUNG2["mpjpe_margin_mm"])
    row["verdict"] = "pass" if all(checks) else "fail"
    return row


def rung3_row(row: dict) -> dict:
    """A ``phymo bench plausibility`` clip row with rung 3's verdict (see :data:`RUNG3`)."""
    standing = any(k in row["clip"] for k in STANDING_CLIPS)
    checks = {"reprojection": row["reproj_px"] <= row["reproj_px_kin"] + RUNG3["reprojection_margin_px"],
              "skating": row["skating"] <= row["skating_kin"], "floating": row["floating_mm"] <= RUNG3["floating_mm"],
              "no fallback": row["fell_back_windows"] == 0}
    if standing:
        checks["residual"] = (row["residual_share"] or 0.0) <= RUNG3["residual_share"]
    failed = [k for k, ok in checks.items() if not ok]
    return row | {"verdict": "pass" if not failed else "fail: " + ", ".join(failed)}


def run(quick: bool = False, rung: int = 1, root: Path | None = None, split: str | None = None,
        max_frames: int = 150, clips: list[str] | None = None) -> dict:
    """The rung's rows (see the module docstring); ``split`` defaults to train (rung 1) or validation (rung 2)."""
    import tempfile

    root = root or data_root()
    if rung == 2:
        with tempfile.TemporaryDirectory(prefix="phymo-own-feet-") as tmp:
            return {"rows": [rung2(root, split or "validation", quick, Path(tmp))], "settings": {"rung": 2}}
    if rung == 3:
        from phymo.pose import available_clips

        from .plausibility import clip_row

        rows = []
        with tempfile.TemporaryDirectory(prefix="phymo-own-feet-") as tmp:
            for k, (name, video, calibration) in enumerate(available_clips(root)):
                rows.append(rung3_row(clip_row(name, video, calibration, quick, Path(tmp) / f"clip{k}")))
                print(rows[-1], flush=True)
        return {"rows": rows, "settings": {"rung": 3, "bounds": RUNG3}}
    split = split or "train"
    corpus = MocapCorpus(root)
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
    settings = {"rung": 1, "split": split, "max_frames": max_frames, "fps": FPS}
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
