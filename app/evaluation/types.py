"""What an evaluation is made of: its configuration, the jobs a dataset lists, and the sample a job loads.

A leaf: every other module of the evaluation imports these, and these import none of them.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np

from phymo.data import CANONICAL, ConfigError, Observations, SyntheticConfig
from phymo.optimizer import OptimizerConfig, canonical_name
from phymo.physics import ReconstructConfig


@dataclass(frozen=True)
class EvalConfig:
    """What to evaluate and how; written to ``OUT/config.json``.

    Attributes:
        dataset: a key of :data:`phymo.app.evaluation.datasets.DATASETS`; root: its folder.
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
        synthetic: how observations are synthesized (mocap, Human3.6M, AIST++).
        physics: the physics reconstruction's settings (as :class:`phymo.app.pipeline.PipelineConfig` names them).
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
    physics: ReconstructConfig = ReconstructConfig()

    def __post_init__(self) -> None:
        if self.max_frames is not None and self.max_frames < 3:
            raise ConfigError("max_frames", f"must be at least 3 (acceleration needs 3 frames), got {self.max_frames}")
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
    """The seed of sequence ``seq_id``: the same on every worker and in every run."""
    return base + int.from_bytes(hashlib.sha256(seq_id.encode()).digest()[:4], "big")
