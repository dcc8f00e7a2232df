"""Evaluation datasets: each lists picklable sequence jobs and turns one into observations plus ground truth.

How observations are made (ground truth known in every case):

- ``mocap``: a BVH file of the chosen corpus split, resampled to ``fps``, seen through a seeded
  :func:`random_camera`; 2D keypoints and the kinematic initialization (a noisy copy of the motion,
  temporally correlated joint-rotation and root errors) from :func:`synthesize_observations`.
- ``h36m``: the clip's 17 ground-truth joints (25 Hz) fitted to the canonical skeleton; 2D keypoints
  either synthetic (that fit projected through the real camera, with detector-like noise) or the
  dataset's own 2D file (``keypoints``); the kinematic initialization is a noisy copy of the fit (a
  stand-in for a learned lifter, which phymo does not have yet). Scores use the 17 original joints.
- ``aist``: as ``h36m`` with AIST++'s COCO-17 keypoints (pelvis, neck, spine and chest made from hip and
  shoulder midpoints), camera ``c01``; scores use the 12 limb joints, the nose and the hip midpoint.
- ``multiview``: a calibrated multi-camera trial (:mod:`phymo.app.multiview`): each camera's video goes
  through the whole pipeline as ``phymo reconstruct`` runs it, scored against the triangulated markers.
- ``clips``: real videos need the video front end (:mod:`phymo.pose`), not available yet.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from phymo.data import (
    CANONICAL,
    Camera,
    DataFormatError,
    Observations,
    PhymoError,
    SyntheticConfig,
    synthesize_observations,
)
from phymo.optimizer import OptimizerConfig, canonical_name
from phymo.physics import ReconstructConfig


@dataclass(frozen=True)
class EvalConfig:
    """What to evaluate and how; written to ``OUT/config.json``.

    Attributes:
        dataset: a key of :data:`DATASETS`; root: its folder.
        subjects: Human3.6M subjects (protocol: S9, S11); cameras: Human3.6M views 0..3.
        actions: keep only these action groups (empty: all).
        split: mocap corpus split ("test" is the held-out one; "all": every file).
        keypoints: Human3.6M 2D source: "synthetic" or the name of a ``data_2d_h36m_<name>.npz`` file.
        fps: frame rate sequences are resampled to (mocap, AIST++); Human3.6M is downsampled 50 -> 25 Hz.
        max_frames: keep the first ``max_frames`` frames of each sequence (None: all).
        max_sequences: evaluate the first ``max_sequences`` sequences (None: all).
        seed: base seed; each sequence's seed is derived from it and the sequence id.
        optimizer: how the reconstruction optimizes its windows (default: as ``phymo reconstruct`` does).
        compare: optimizer names run on the same windows of every sequence and compared (empty: none).
        reference: multiview: the markers' TRC file (None: the one found in the trial).
        use_calibration: multiview: the calibration's intrinsics replace the camera guess.
    """

    dataset: str
    root: str
    subjects: tuple[str, ...] = ("S9", "S11")
    cameras: tuple[int, ...] = (0, 1, 2, 3)
    actions: tuple[str, ...] = ()
    split: str = "test"
    keypoints: str = "synthetic"
    fps: float = 30.0
    max_frames: int | None = None
    max_sequences: int | None = None
    seed: int = 0
    optimizer: OptimizerConfig = OptimizerConfig()
    compare: tuple[str, ...] = ()
    reference: str | None = None
    use_calibration: bool = False
    synthetic: SyntheticConfig = SyntheticConfig()
    reconstruct: ReconstructConfig = ReconstructConfig()

    def __post_init__(self) -> None:
        if self.dataset not in DATASETS:
            raise PhymoError(f"unknown dataset {self.dataset!r}; choose one of {sorted(DATASETS)}")
        if self.max_frames is not None and self.max_frames < 3:
            raise PhymoError(f"--max-frames must be at least 3 (acceleration needs 3 frames), got {self.max_frames}")
        if self.dataset != "multiview" and (self.reference is not None or self.use_calibration):
            raise PhymoError("--reference and --use-calibration apply to --dataset multiview only")
        for name in self.compare:  # refused before any sequence is reconstructed
            canonical_name(name)


@dataclass(frozen=True)
class SequenceSpec:
    """One job: ``source`` holds the picklable loader arguments of its dataset."""

    id: str
    action: str
    source: tuple


@dataclass
class Sample:
    """Observations (with a kinematic estimate) and ground truth ``gt (T, J, 3)`` world metres, canonical order.

    Attributes:
        obs, gt: the observations and the truth, in the same world frame (the observations' camera's).
        joints: the canonical indices the protocol scores (root first: the alignment joint).
        pelvis_from_hips: the truth has no pelvis joint; its pelvis slot and the prediction's score the
            hips' midpoint.
        align_frames: 0 when prediction and truth share a world by construction (global MPJPE without
            alignment); else global MPJPE aligns this many first frames rigidly (a prediction in a world
            of its own), and ``mpjpe_cam`` keeps the unaligned error.
        physics: ``(T, J, 3)`` positions of a physics result already made from ``obs`` (the whole pipeline
            ran), with its ``physics_extras`` and the ``plausibility`` of both results (``{"kinematic": ...,
            "physics": ...}``, its report's); None: the evaluation reconstructs.
        gt_on_ground: the truth's ground is z = 0, so its plausibility figures are a reference.
        info: dataset notes copied into the sequence's record.
    """

    obs: Observations
    gt: np.ndarray
    joints: list[int] = field(default_factory=lambda: list(range(CANONICAL.num_joints)))
    pelvis_from_hips: bool = False
    align_frames: int = 0
    physics: np.ndarray | None = None
    physics_extras: dict = field(default_factory=dict)
    plausibility: dict = field(default_factory=dict)
    gt_on_ground: bool = True
    info: dict = field(default_factory=dict)


def sequence_seed(base: int, seq_id: str) -> int:
    return base + int.from_bytes(hashlib.sha256(seq_id.encode()).digest()[:4], "big")


# ---- datasets -------------------------------------------------------------------------------------

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
    return Sample(obs, motion.positions())


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


def _clips_specs(cfg: EvalConfig) -> list[SequenceSpec]:
    raise PhymoError("dataset 'clips' needs the video front end (phymo.pose: keypoints and kinematic "
                     "initialization from video), which is not available yet; evaluate 'mocap', 'h36m' or 'aist'")


def _multiview_specs(cfg: EvalConfig) -> list[SequenceSpec]:
    from .multiview import camera_specs

    return camera_specs(cfg)


def _multiview_sample(spec: SequenceSpec, cfg: EvalConfig, work: Path | None = None) -> Sample:
    from .multiview import camera_sample

    return camera_sample(spec, cfg, work)


#: dataset name -> (list the jobs, load one job's sample). ``load(spec, cfg, work)``: ``work`` is a folder
#: for the sequence's own outputs (multiview: its pipeline run), or None; the synthetic datasets write none.
DATASETS: dict[str, tuple[Callable[[EvalConfig], list[SequenceSpec]],
                          Callable[[SequenceSpec, EvalConfig, Path | None], Sample]]] = {
    "mocap": (_mocap_specs, _mocap_sample),
    "h36m": (_h36m_specs, _h36m_sample),
    "aist": (_aist_specs, _aist_sample),
    "multiview": (_multiview_specs, _multiview_sample),
    "clips": (_clips_specs, None),
}


def list_sequences(cfg: EvalConfig) -> list[SequenceSpec]:
    specs = DATASETS[cfg.dataset][0](cfg)
    return specs[: cfg.max_sequences] if cfg.max_sequences is not None else specs
