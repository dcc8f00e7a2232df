"""Observations: what the video front end (or a synthetic generator) hands to physics reconstruction."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np

from .camera import Camera
from .motion import Motion
from .skeleton import Skeleton


@dataclass
class Observations:
    """Per-frame evidence about one person, in the canonical skeleton's joint order.

    Attributes:
        keypoints_2d: ``(T, J, 2)`` pixel coordinates; rows of joints not observed hold 0.
        confidence: ``(T, J)`` in ``[0, 1]``; 0 marks a missing or unmapped keypoint.
        camera: the pinhole camera (intrinsics and, where known, extrinsics world->camera).
        fps: frames per second of the keypoints.
        kinematic: the kinematic 3D estimate as a ``Motion`` (world frame, Z up, metres), or None.
        meta: source description (file, frame range, detector, ...), JSON-serialisable.
    """

    keypoints_2d: np.ndarray = field(repr=False)
    confidence: np.ndarray = field(repr=False)
    camera: Camera
    fps: float
    kinematic: Motion | None = None
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.keypoints_2d = np.asarray(self.keypoints_2d, dtype=np.float64)
        self.confidence = np.asarray(self.confidence, dtype=np.float64)
        t, j = self.confidence.shape
        if self.keypoints_2d.shape != (t, j, 2):
            raise ValueError(f"keypoints_2d must be (T, J, 2) = ({t}, {j}, 2), got {self.keypoints_2d.shape}")
        if self.kinematic is not None and self.kinematic.num_frames != t:
            raise ValueError(f"kinematic estimate has {self.kinematic.num_frames} frames, keypoints {t}")

    @property
    def num_frames(self) -> int:
        return self.confidence.shape[0]

    def kinematic_positions(self) -> np.ndarray:
        """``(T, J, 3)`` world joint positions of the kinematic estimate, metres."""
        if self.kinematic is None:
            raise ValueError("these observations carry no kinematic 3D estimate")
        return self.kinematic.positions()

    def slice(self, start: int, stop: int) -> Observations:
        kin = None if self.kinematic is None else self.kinematic.slice(start, stop)
        return Observations(self.keypoints_2d[start:stop], self.confidence[start:stop], self.camera, self.fps,
                            kin, dict(self.meta))


def observations_to_arrays(obs: Observations) -> dict[str, np.ndarray]:
    """A flat, pickle-free dict of arrays holding ``obs`` entirely (for stage caches)."""
    out = {"keypoints_2d": obs.keypoints_2d, "confidence": obs.confidence, "fps": np.array(float(obs.fps)),
           "camera": np.array(json.dumps(obs.camera.to_dict())), "meta": np.array(json.dumps(obs.meta, default=str))}
    if obs.kinematic is not None:
        sk = obs.kinematic.skeleton
        out |= {"kin_names": np.array(sk.names), "kin_parents": np.array(sk.parents), "kin_offsets": sk.offsets,
                "kin_fps": np.array(float(obs.kinematic.fps)), "kin_root": obs.kinematic.root_translation,
                "kin_rotations": obs.kinematic.rotations}
    return out


def observations_from_arrays(arrays) -> Observations:
    """Inverse of :func:`observations_to_arrays` (accepts an open ``np.load`` result)."""
    kin = None
    if "kin_rotations" in arrays:
        sk = Skeleton(tuple(str(n) for n in arrays["kin_names"]), tuple(int(p) for p in arrays["kin_parents"]),
                      arrays["kin_offsets"])
        kin = Motion(sk, float(arrays["kin_fps"]), arrays["kin_root"], arrays["kin_rotations"])
    camera = Camera.from_dict(json.loads(str(arrays["camera"])))
    return Observations(arrays["keypoints_2d"], arrays["confidence"], camera, float(arrays["fps"]), kin,
                        json.loads(str(arrays["meta"])))


def runs_of_true(mask: np.ndarray) -> list[tuple[int, int]]:
    """``[start, stop)`` of each run of True in a 1D boolean array (frames seen, a foot in stance)."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], np.asarray(mask).astype(np.int8), [0]])))
    return [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2], strict=True)]
