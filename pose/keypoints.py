"""Keypoints2D: per-frame 2D keypoints of one person in a source joint set, and their npz file format.

The npz format (no pickle) written by ``phymo detect`` and read by :func:`load_keypoints`:

==================  =============  ==========================================================
key                 shape / dtype  meaning
==================  =============  ==========================================================
``points``          (T, K, 2) f4   pixel coordinates (u right, v down); 0 where missing
``confidence``      (T, K) f4      in [0, 1]; 0 marks a missing keypoint
``world``           (T, K, 3) f4   optional: detector's 3D landmarks, metres, hip-centred,
                                   camera-aligned axes (x right, y down, z away from camera)
``detected``        (T,) bool      the detector found the person in this frame
``frame_indices``   (T,) i8        index of each row in the source video
``fps``             () f8          frames per second of the rows (video fps / stride)
``image_size``      (2,) i8        width, height in pixels
``joint_set``       () str         name of the joint set (a key of ``phymo.data.skeleton.JOINT_MAPPINGS``)
``meta``            () str         JSON: source file, detector, video info, people seen
==================  =============  ==========================================================
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from phymo.data import CANONICAL, DataFormatError, Skeleton, get_mapping, require_file

FORMAT_VERSION = 1


@dataclass
class Keypoints2D:
    """2D (and optionally 3D) keypoints of one person over ``T`` frames in the joint set ``joint_set``."""

    points: np.ndarray = field(repr=False)
    confidence: np.ndarray = field(repr=False)
    joint_set: str
    fps: float
    width: int
    height: int
    world: np.ndarray | None = field(default=None, repr=False)
    detected: np.ndarray | None = field(default=None, repr=False)
    frame_indices: np.ndarray | None = field(default=None, repr=False)
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.points = np.asarray(self.points, dtype=np.float64)
        self.confidence = np.asarray(self.confidence, dtype=np.float64)
        t, k = self.confidence.shape
        if self.points.shape != (t, k, 2):
            raise ValueError(f"points must be (T, K, 2) = ({t}, {k}, 2), got {self.points.shape}")
        if self.world is not None:
            self.world = np.asarray(self.world, dtype=np.float64)
            if self.world.shape != (t, k, 3):
                raise ValueError(f"world must be (T, K, 3) = ({t}, {k}, 3), got {self.world.shape}")
        mapping = get_mapping(self.joint_set)
        if mapping.num_external != k:
            raise ValueError(f"joint set {self.joint_set} has {mapping.num_external} points, got {k}")
        self.detected = (self.confidence > 0).any(axis=1) if self.detected is None else np.asarray(self.detected, bool)
        self.frame_indices = np.arange(t) if self.frame_indices is None else np.asarray(self.frame_indices, np.int64)
        if not self.fps > 0:
            raise ValueError(f"fps must be positive, got {self.fps}")

    @classmethod
    def from_canonical(cls, points: np.ndarray, confidence: np.ndarray, fps: float, width: int, height: int,
                       joint_set: str = "mediapipe33", meta: dict | None = None) -> Keypoints2D:
        """Canonical ``(T, J, 2)`` pixels and ``(T, J)`` confidences as a detector of ``joint_set`` reports them
        (its points without a canonical joint missing): how synthetic observations enter the product's path."""
        mapping = get_mapping(joint_set)
        t = len(points)
        ext, can = mapping.external_indices(), mapping.canonical_indices()
        pts, conf = np.zeros((t, mapping.num_external, 2)), np.zeros((t, mapping.num_external))
        pts[:, ext], conf[:, ext] = np.asarray(points)[:, can], np.asarray(confidence)[:, can]
        return cls(pts, conf, joint_set, fps, width, height, meta=dict(meta or {}))

    @property
    def num_frames(self) -> int:
        return self.confidence.shape[0]

    @property
    def detected_share(self) -> float:
        return float(self.detected.mean()) if self.num_frames else 0.0

    def slice(self, start: int, stop: int) -> Keypoints2D:
        """Rows ``start:stop`` (their ``frame_indices`` keep saying which input frames they are)."""
        world = None if self.world is None else self.world[start:stop]
        return Keypoints2D(self.points[start:stop], self.confidence[start:stop], self.joint_set, self.fps, self.width,
                           self.height, world, self.detected[start:stop], self.frame_indices[start:stop],
                           dict(self.meta))

    def to_canonical(self, skeleton: Skeleton = CANONICAL) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """``(T, J, 2)`` pixels, ``(T, J)`` confidences and ``(T, J, 3)`` world points (or None), canonical order."""
        mapping = get_mapping(self.joint_set)
        pts, conf = mapping.to_canonical(self.points, self.confidence, skeleton)
        world = None if self.world is None else mapping.to_canonical(self.world, None, skeleton)[0]
        return pts, conf, world

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        arrays = {"points": self.points.astype(np.float32), "confidence": self.confidence.astype(np.float32),
                  "detected": self.detected, "frame_indices": self.frame_indices, "fps": np.float64(self.fps),
                  "image_size": np.array([self.width, self.height], dtype=np.int64),
                  "joint_set": np.array(self.joint_set), "format_version": np.int64(FORMAT_VERSION),
                  "meta": np.array(json.dumps(self.meta, default=str))}
        if self.world is not None:
            arrays["world"] = self.world.astype(np.float32)
        with open(path, "wb") as f:
            np.savez_compressed(f, **arrays)
        return path


def load_keypoints(path: str | Path) -> Keypoints2D:
    """Read a keypoints npz in the format above; :class:`DataFormatError` names what is wrong."""
    path = require_file(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            data = {k: z[k] for k in z.files}
    except (OSError, ValueError) as exc:
        raise DataFormatError(f"{path}: not a readable npz file ({exc})") from None
    missing = [k for k in ("points", "confidence", "fps", "image_size", "joint_set") if k not in data]
    if missing:
        raise DataFormatError(f"{path}: missing keys {missing}; expected the keypoints format written by "
                              "`phymo detect` (see phymo.pose.keypoints)")
    try:
        return Keypoints2D(data["points"], data["confidence"], str(data["joint_set"]), float(data["fps"]),
                           int(data["image_size"][0]), int(data["image_size"][1]), data.get("world"),
                           data.get("detected"), data.get("frame_indices"),
                           json.loads(str(data["meta"])) if "meta" in data else {})
    except ValueError as exc:
        raise DataFormatError(f"{path}: inconsistent keypoints file: {exc}") from None
