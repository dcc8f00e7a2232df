"""Evaluation datasets: an explicit registry, each entry listing picklable sequence jobs and turning one into
observations plus ground truth.

How observations are made (ground truth known in every case):

- ``mocap``: a BVH file of the chosen corpus split, resampled to ``fps``, seen through a seeded
  :func:`random_camera`; 2D keypoints from :func:`synthesize_observations`; the kinematic initialization is
  the product's (:func:`phymo.pose.fitted_kinematic`: the lifter's prior and the kinematic fit on those
  keypoints, in the fit's own world), the truth moved into that world through the known camera, global MPJPE
  aligned on the first frames as for real footage (the fit's depth rests on an assumed height).
- ``h36m``: the clip's 17 ground-truth joints (25 Hz) fitted to the canonical skeleton; 2D keypoints
  either synthetic (that fit projected through the real camera, with detector-like noise) or the
  dataset's own 2D file (``keypoints``); the kinematic initialization is a noisy copy of the fit (a
  stand-in for a learned lifter, which phymo does not have yet). Scores use the 17 original joints.
- ``aist``: as ``h36m`` with AIST++'s COCO-17 keypoints (pelvis, neck, spine and chest made from hip and
  shoulder midpoints), camera ``c01``; scores use the 12 limb joints, the nose and the hip midpoint.
- ``multiview``: a calibrated multi-camera trial (:mod:`phymo.app.evaluation.multiview`): each camera's video
  goes through the whole pipeline as ``phymo reconstruct`` runs it, scored against the triangulated markers.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from phymo.data import (
    CANONICAL,
    Camera,
    ConfigError,
    DataFormatError,
    Observations,
    PhymoError,
    synthesize_observations,
)

from . import multiview
from .summary import h36m_report
from .truth import ALIGN_FRAMES, in_run_world
from .types import EvalConfig, Sample, SequenceSpec, sequence_seed


def _no_report(records: list[dict], summary: dict) -> tuple[dict, str]:
    return {}, ""


@dataclass(frozen=True)
class Dataset:
    """One evaluation dataset.

    Attributes:
        specs: ``cfg -> [SequenceSpec]``, the jobs in a fixed order (a selection without any is an error that
            says why).
        load: ``(spec, cfg, work) -> Sample``: one job's observations and truth; ``work`` is a folder for the
            sequence's own outputs (multiview: its pipeline run), or None.
        report: ``(records, summary) -> (entries, markdown)``: what the dataset adds to ``summary.json`` and to
            the end of ``summary.md``.
        options: the :class:`EvalConfig` fields that only this dataset reads; the others refuse them.
    """

    specs: Callable[[EvalConfig], list[SequenceSpec]]
    load: Callable[[SequenceSpec, EvalConfig, Path | None], Sample]
    report: Callable[[list[dict], dict], tuple[dict, str]] = _no_report
    options: tuple[str, ...] = ()


def _mocap_specs(cfg: EvalConfig) -> list[SequenceSpec]:
    from phymo.data import MocapCorpus

    corpus = MocapCorpus(cfg.root)
    files = corpus.split(cfg.split)
    if not files:
        from phymo.data import SPLITS

        counts = ", ".join(f"{s} {len(corpus.split(s))}" for s in SPLITS)
        raise PhymoError(f"{cfg.root}: no BVH file in the {cfg.split!r} split (files per split: {counts}); "
                         "choose a split that has files with --split, or --split all to evaluate every file")
    specs = []
    for p in files:
        rel = p.relative_to(corpus.root).as_posix()
        specs.append(SequenceSpec(rel, rel.split("/")[0] if "/" in rel else "mocap", (str(p),)))
    return specs


def _mocap_sample(spec: SequenceSpec, cfg: EvalConfig, work: Path | None = None) -> Sample:
    from phymo.data import load_bvh_motion

    motion = load_bvh_motion(spec.source[0]).resample(cfg.fps)
    motion = motion.slice(0, cfg.max_frames)
    if motion.num_frames < 3:
        raise DataFormatError(f"{spec.source[0]}: only {motion.num_frames} frames at {cfg.fps:g} fps; need 3")
    obs = synthesize_observations(motion, None, cfg.synthetic, sequence_seed(cfg.seed, spec.id))
    from phymo.pose import fitted_kinematic

    fitted = fitted_kinematic(obs)
    return Sample(fitted, in_run_world(motion.positions(), obs.camera, fitted.camera), align_frames=ALIGN_FRAMES,
                  gt_on_ground=False)


def _fit_sample(targets: dict[str, np.ndarray], gt: np.ndarray, joints: list[int], fps: float, camera: Camera,
                cfg: EvalConfig, seq_id: str) -> Sample:
    """Fit ground-truth points to the canonical skeleton, then synthesize observations of the fit."""
    from phymo.data import solve_motion

    fit = solve_motion(targets, fps)
    fit.root_translation[:] = targets["pelvis"]  # keep the dataset's ground, not the fit's lowest foot
    obs = synthesize_observations(fit, camera, cfg.synthetic, sequence_seed(cfg.seed, seq_id))
    return Sample(obs, gt, joints)


def _trunk(targets: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Add a chest between spine and neck (canonical proportions 0.15 : 0.22) and collars a fifth of the way
    from the neck to each shoulder, where they are missing (the fit needs them for the chest's frame)."""
    if "chest" not in targets:
        targets["chest"] = targets["spine"] + 0.4 * (targets["neck"] - targets["spine"])
    for side in ("left", "right"):
        if f"{side}_collar" not in targets:
            targets[f"{side}_collar"] = targets["neck"] + 0.2 * (targets[f"{side}_shoulder"] - targets["neck"])
    return targets


def _h36m_dataset(cfg: EvalConfig):
    from phymo.data.h36m import H36MDataset

    return H36MDataset(cfg.root, keypoints=cfg.keypoints if cfg.keypoints != "synthetic" else "gt", downsample=2)


def _h36m_specs(cfg: EvalConfig) -> list[SequenceSpec]:
    from phymo.data.h36m import CAMERA_IDS, normalize_action

    ds = _h36m_dataset(cfg)
    have = ds.subjects()
    missing = [s for s in cfg.subjects if s not in have]
    if missing:
        raise PhymoError(f"{cfg.root}: no subject {missing} in the Human3.6M files (has {have})")
    return [SequenceSpec(f"{s}/{a}/{CAMERA_IDS[c]}", normalize_action(a), (s, a, c))
            for s in cfg.subjects for a in ds.actions(s) if not cfg.actions or normalize_action(a) in cfg.actions
            for c in cfg.cameras]


def _h36m_sample(spec: SequenceSpec, cfg: EvalConfig, work: Path | None = None) -> Sample:
    from phymo.data import H36M_17

    subject, action, cam = spec.source
    ds = _h36m_dataset(cfg)
    gt, _ = ds.positions_canonical(subject, action)
    gt = gt[: cfg.max_frames]
    joints = [int(j) for j in H36M_17.canonical_indices()]  # pelvis first
    targets = _trunk({CANONICAL.names[j]: gt[:, j] for j in joints})
    sample = _fit_sample(targets, gt, joints, ds.fps, ds.camera(subject, cam), cfg, spec.id)
    if cfg.keypoints != "synthetic":  # the dataset's own 2D keypoints replace the synthetic ones
        real = ds.observations(subject, action, cam)
        t = min(real.num_frames, sample.obs.num_frames)
        o = sample.obs
        sample.obs = Observations(real.keypoints_2d[:t], real.confidence[:t], o.camera, o.fps,
                                  o.kinematic.slice(0, t), {**o.meta, **real.meta})
        sample.gt = sample.gt[:t]
    return sample


def _aist_specs(cfg: EvalConfig) -> list[SequenceSpec]:
    from phymo.data.aist import AISTDataset

    return [SequenceSpec(s, s.split("_")[0], (s,)) for s in AISTDataset(cfg.root).sequences()]


def _aist_sample(spec: SequenceSpec, cfg: EvalConfig, work: Path | None = None) -> Sample:
    from phymo.data import COCO_17
    from phymo.data.aist import AISTDataset

    ds = AISTDataset(cfg.root)
    pts, _ = ds.positions_canonical(spec.source[0])
    step = max(1, int(round(ds.fps / cfg.fps)))
    pts = pts[::step][: cfg.max_frames]
    idx = CANONICAL.index
    pts[:, 0] = 0.5 * (pts[:, idx("left_hip")] + pts[:, idx("right_hip")])
    joints = [0] + [int(j) for j in COCO_17.canonical_indices()]
    targets = {CANONICAL.names[j]: pts[:, j] for j in joints}
    targets["neck"] = 0.5 * (targets["left_shoulder"] + targets["right_shoulder"])
    targets["spine"] = targets["pelvis"] + 0.3 * (targets["neck"] - targets["pelvis"])
    return _fit_sample(_trunk(targets), pts, joints, ds.fps / step, ds.camera(spec.source[0], "c01"), cfg, spec.id)


#: dataset name -> :class:`Dataset`
DATASETS: dict[str, Dataset] = {
    "mocap": Dataset(_mocap_specs, _mocap_sample),
    "h36m": Dataset(_h36m_specs, _h36m_sample, h36m_report),
    "aist": Dataset(_aist_specs, _aist_sample),
    "multiview": Dataset(multiview.camera_specs, multiview.camera_sample, multiview.report,
                         ("reference", "use_calibration")),
}


def dataset(cfg: EvalConfig) -> Dataset:
    """The dataset ``cfg`` names; an unknown name, or an option of another dataset set, is refused."""
    if cfg.dataset not in DATASETS:
        raise PhymoError(f"unknown dataset {cfg.dataset!r}; choose one of {sorted(DATASETS)}")
    chosen = DATASETS[cfg.dataset]
    defaults = {f.name: f.default for f in dataclasses.fields(EvalConfig)}
    for name, other in DATASETS.items():
        for option in set(other.options) - set(chosen.options):
            if getattr(cfg, option) != defaults[option]:
                raise ConfigError(option, f"applies to dataset {name} only")
    return chosen


def list_sequences(cfg: EvalConfig) -> list[SequenceSpec]:
    """The jobs of ``cfg``: its dataset's, the first ``cfg.max_sequences`` of them."""
    specs = dataset(cfg).specs(cfg)
    return specs[: cfg.max_sequences] if cfg.max_sequences is not None else specs
