"""The skeleton type, phymo's canonical body skeleton, and the registry of its mappings to other joint sets.

Internal frame: Z up, metres, right-handed; in the rest pose the body faces +X, its left side is
+Y, arms out sideways (T-pose). Rest offsets are each joint's position relative to its parent in
the parent's frame when all local rotations are identity.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Skeleton:
    """A kinematic tree.

    Attributes:
        names: joint names, unique; index 0 is the root.
        parents: parent index per joint, ``-1`` for the root; parents precede children.
        offsets: ``(J, 3)`` rest offsets from the parent, metres, parent frame (root: zeros).
    """

    names: tuple[str, ...]
    parents: tuple[int, ...]
    offsets: np.ndarray = field(repr=False)

    def __post_init__(self) -> None:
        offsets = np.asarray(self.offsets, dtype=np.float64)
        object.__setattr__(self, "offsets", offsets)
        n = len(self.names)
        if len(self.parents) != n or offsets.shape != (n, 3):
            raise ValueError(
                f"skeleton sizes disagree: {n} names, {len(self.parents)} parents, offsets {offsets.shape}"
            )
        if len(set(self.names)) != n:
            raise ValueError("skeleton joint names must be unique")
        if self.parents[0] != -1 or any(not (0 <= p < j) for j, p in enumerate(self.parents) if j > 0):
            raise ValueError("skeleton parents must be topologically ordered with the root (-1) first")

    @property
    def num_joints(self) -> int:
        return len(self.names)

    def index(self, name: str) -> int:
        return self.names.index(name)

    def children(self, j: int) -> list[int]:
        return [c for c, p in enumerate(self.parents) if p == j]

    @property
    def leaves(self) -> list[int]:
        """Joints without children (end effectors: their rotation moves nothing)."""
        return [j for j in range(self.num_joints) if not self.children(j)]

    def bone_lengths(self) -> np.ndarray:
        """``(J,)`` length of the bone from each joint's parent to the joint, metres (root: 0)."""
        return np.linalg.norm(self.offsets, axis=-1)

    def rest_positions(self) -> np.ndarray:
        """``(J, 3)`` joint positions in the rest pose with the root at the origin, metres."""
        pos = np.zeros((self.num_joints, 3))
        for j, p in enumerate(self.parents):
            if p >= 0:
                pos[j] = pos[p] + self.offsets[j]
        return pos

    def with_offsets(self, offsets: np.ndarray) -> Skeleton:
        """The same tree with other rest offsets (e.g. fitted to a person)."""
        return Skeleton(self.names, self.parents, np.asarray(offsets, dtype=np.float64))

    def scaled(self, factor: float) -> Skeleton:
        return self.with_offsets(self.offsets * factor)

    def height(self) -> float:
        """Rest-pose extent along Z from the lowest to the highest joint (head top to toe), metres."""
        z = self.rest_positions()[:, 2]
        return float(z.max() - z.min())


def _canonical() -> Skeleton:
    left = [
        # name, parent, offset for the left side (right side mirrors y)
        ("hip", "pelvis", (0.0, 0.095, -0.065)),
        ("knee", "hip", (0.0, 0.0, -0.425)),
        ("ankle", "knee", (0.0, 0.0, -0.415)),
        ("toe", "ankle", (0.14, 0.0, -0.06)),
        ("collar", "chest", (0.0, 0.035, 0.19)),
        ("shoulder", "collar", (0.0, 0.145, 0.0)),
        ("elbow", "shoulder", (0.0, 0.28, 0.0)),
        ("wrist", "elbow", (0.0, 0.25, 0.0)),
    ]
    joints = [
        ("pelvis", None, (0.0, 0.0, 0.0)),
        ("spine", "pelvis", (0.0, 0.0, 0.10)),
        ("chest", "spine", (0.0, 0.0, 0.15)),
        ("neck", "chest", (0.0, 0.0, 0.22)),
        ("head", "neck", (0.0, 0.0, 0.10)),
        ("head_top", "head", (0.0, 0.0, 0.15)),
    ]
    for side, sign in (("left", 1.0), ("right", -1.0)):
        for name, parent, (x, y, z) in left[:4]:
            par = parent if parent == "pelvis" else f"{side}_{parent}"
            joints.append((f"{side}_{name}", par, (x, sign * y, z)))
    for side, sign in (("left", 1.0), ("right", -1.0)):
        for name, parent, (x, y, z) in left[4:]:
            par = parent if parent == "chest" else f"{side}_{parent}"
            joints.append((f"{side}_{name}", par, (x, sign * y, z)))
    names = tuple(j[0] for j in joints)
    parents = tuple(-1 if j[1] is None else names.index(j[1]) for j in joints)
    return Skeleton(names, parents, np.array([j[2] for j in joints]))


#: phymo's canonical body skeleton (22 joints, ~1.73 m tall at the default size).
CANONICAL = _canonical()

#: Foot joints used for contact, skating and penetration measures (ankles and toes).
FOOT_JOINTS = ("left_ankle", "left_toe", "right_ankle", "right_toe")


@dataclass(frozen=True)
class JointMapping:
    """Correspondence between an external joint set and the canonical skeleton.

    ``pairs`` lists ``(canonical joint name, external index)``; external points that have no
    canonical counterpart are ignored, canonical joints without one get confidence 0. Some
    correspondences are approximate (a COCO "hip" keypoint sits higher and wider than the
    anatomical hip centre); ``approximate`` names them so fitters can down-weight them.
    """

    name: str
    external_names: tuple[str, ...]
    pairs: tuple[tuple[str, int], ...]
    approximate: tuple[str, ...] = ()

    @property
    def num_external(self) -> int:
        return len(self.external_names)

    def canonical_indices(self, skeleton: Skeleton = CANONICAL) -> np.ndarray:
        return np.array([skeleton.index(c) for c, _ in self.pairs], dtype=np.int64)

    def external_indices(self) -> np.ndarray:
        return np.array([e for _, e in self.pairs], dtype=np.int64)

    def to_canonical(self, points: np.ndarray, confidence: np.ndarray | None = None,
                     skeleton: Skeleton = CANONICAL) -> tuple[np.ndarray, np.ndarray]:
        """Map ``points (..., K, D)`` in this joint set to ``(..., J, D)`` canonical order.

        Returns the mapped points (zeros where unmapped) and confidences ``(..., J)`` (the given
        confidence, or 1, where mapped; 0 elsewhere).
        """
        points = np.asarray(points, dtype=np.float64)
        if points.shape[-2] != self.num_external:
            raise ValueError(f"{self.name} expects {self.num_external} points per frame, got {points.shape[-2]}")
        out = np.zeros((*points.shape[:-2], skeleton.num_joints, points.shape[-1]))
        conf = np.zeros((*points.shape[:-2], skeleton.num_joints))
        ci, ei = self.canonical_indices(skeleton), self.external_indices()
        out[..., ci, :] = points[..., ei, :]
        conf[..., ci] = 1.0 if confidence is None else np.asarray(confidence, dtype=np.float64)[..., ei]
        return out, conf

    def from_canonical(self, points: np.ndarray, skeleton: Skeleton = CANONICAL) -> np.ndarray:
        """Canonical ``(..., J, D)`` to this joint set ``(..., K, D)``; unmapped points are NaN."""
        points = np.asarray(points, dtype=np.float64)
        out = np.full((*points.shape[:-2], self.num_external, points.shape[-1]), np.nan)
        out[..., self.external_indices(), :] = points[..., self.canonical_indices(skeleton), :]
        return out


def _mapping(name, external_names, table, approximate=()):
    ext = tuple(external_names)
    return JointMapping(name, ext, tuple((c, ext.index(e)) for c, e in table), tuple(approximate))


_LIMBS = ["hip", "knee", "ankle", "shoulder", "elbow", "wrist"]

H36M_17_NAMES = ("Hip", "RHip", "RKnee", "RFoot", "LHip", "LKnee", "LFoot", "Spine", "Thorax",
                 "Neck/Nose", "Head", "LShoulder", "LElbow", "LWrist", "RShoulder", "RElbow", "RWrist")
#: The 17-joint subset of Human3.6M's 32 joints, and its parents, as used by VideoPose3D.
H36M_17_FROM_32 = (0, 1, 2, 3, 6, 7, 8, 12, 13, 14, 15, 17, 18, 19, 25, 26, 27)
H36M_17_PARENTS = (-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 9, 8, 11, 12, 8, 14, 15)
H36M_17 = _mapping("h36m17", H36M_17_NAMES, [
    ("pelvis", "Hip"), ("right_hip", "RHip"), ("right_knee", "RKnee"), ("right_ankle", "RFoot"),
    ("left_hip", "LHip"), ("left_knee", "LKnee"), ("left_ankle", "LFoot"), ("spine", "Spine"),
    ("neck", "Thorax"), ("head", "Neck/Nose"), ("head_top", "Head"),
    ("left_shoulder", "LShoulder"), ("left_elbow", "LElbow"), ("left_wrist", "LWrist"),
    ("right_shoulder", "RShoulder"), ("right_elbow", "RElbow"), ("right_wrist", "RWrist"),
], approximate=("spine", "head"))

COCO_17_NAMES = ("nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder",
                 "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip",
                 "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle")
COCO_17 = _mapping("coco17", COCO_17_NAMES,
                   [(f"{s}_{l}", f"{s}_{l}") for s in ("left", "right") for l in _LIMBS] + [("head", "nose")],
                   approximate=("head", "left_hip", "right_hip"))

MEDIAPIPE_33_NAMES = (
    "nose", "left_eye_inner", "left_eye", "left_eye_outer", "right_eye_inner", "right_eye", "right_eye_outer",
    "left_ear", "right_ear", "mouth_left", "mouth_right", "left_shoulder", "right_shoulder", "left_elbow",
    "right_elbow", "left_wrist", "right_wrist", "left_pinky", "right_pinky", "left_index", "right_index",
    "left_thumb", "right_thumb", "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle",
    "right_ankle", "left_heel", "right_heel", "left_foot_index", "right_foot_index")
MEDIAPIPE_33 = _mapping("mediapipe33", MEDIAPIPE_33_NAMES,
                        [(f"{s}_{l}", f"{s}_{l}") for s in ("left", "right") for l in _LIMBS]
                        + [(f"{s}_toe", f"{s}_foot_index") for s in ("left", "right")] + [("head", "nose")],
                        approximate=("head", "left_hip", "right_hip"))

SMPL_24_NAMES = ("pelvis", "left_hip", "right_hip", "spine1", "left_knee", "right_knee", "spine2",
                 "left_ankle", "right_ankle", "spine3", "left_foot", "right_foot", "neck", "left_collar",
                 "right_collar", "head", "left_shoulder", "right_shoulder", "left_elbow", "right_elbow",
                 "left_wrist", "right_wrist", "left_hand", "right_hand")
SMPL_24_PARENTS = (-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 20, 21)
SMPL_24 = _mapping("smpl24", SMPL_24_NAMES, [
    ("pelvis", "pelvis"), ("spine", "spine1"), ("chest", "spine3"), ("neck", "neck"), ("head", "head"),
    *[(f"{s}_{l}", f"{s}_{l}") for s in ("left", "right") for l in _LIMBS + ["collar"]],
    *[(f"{s}_toe", f"{s}_foot") for s in ("left", "right")],
], approximate=("spine", "chest"))

#: The CMU skeleton as converted by cgspeed (MotionBuilder-friendly release, 31 joints).
CMU_NAMES = ("Hips", "LHipJoint", "LeftUpLeg", "LeftLeg", "LeftFoot", "LeftToeBase", "RHipJoint", "RightUpLeg",
             "RightLeg", "RightFoot", "RightToeBase", "LowerBack", "Spine", "Spine1", "Neck", "Neck1", "Head",
             "LeftShoulder", "LeftArm", "LeftForeArm", "LeftHand", "LeftFingerBase", "LeftHandIndex1",
             "LThumb", "RightShoulder", "RightArm", "RightForeArm", "RightHand", "RightFingerBase",
             "RightHandIndex1", "RThumb")
_CMU_SIDE = {"left": ("Left", "L"), "right": ("Right", "R")}
CMU = _mapping("cmu", CMU_NAMES, [
    ("pelvis", "Hips"), ("spine", "Spine"), ("chest", "Spine1"), ("neck", "Neck"), ("head", "Head"),
    *[(f"{s}_{c}", f"{_CMU_SIDE[s][0]}{e}") for s in ("left", "right") for c, e in (
        ("hip", "UpLeg"), ("knee", "Leg"), ("ankle", "Foot"), ("toe", "ToeBase"), ("collar", "Shoulder"),
        ("shoulder", "Arm"), ("elbow", "ForeArm"), ("wrist", "Hand"))],
], approximate=("spine", "chest"))

#: OpenPose BODY_25 (the default OpenPose body model).
BODY_25_NAMES = ("Nose", "Neck", "RShoulder", "RElbow", "RWrist", "LShoulder", "LElbow", "LWrist", "MidHip", "RHip",
                 "RKnee", "RAnkle", "LHip", "LKnee", "LAnkle", "REye", "LEye", "REar", "LEar", "LBigToe",
                 "LSmallToe", "LHeel", "RBigToe", "RSmallToe", "RHeel")
#: OpenPose BODY_25B (the experimental, more accurate model Pose2Sim uses): COCO order first.
BODY_25B_NAMES = ("Nose", "LEye", "REye", "LEar", "REar", "LShoulder", "RShoulder", "LElbow", "RElbow", "LWrist",
                  "RWrist", "LHip", "RHip", "LKnee", "RKnee", "LAnkle", "RAnkle", "Neck", "Head", "LBigToe",
                  "LSmallToe", "LHeel", "RBigToe", "RSmallToe", "RHeel")
#: OpenPose COCO-18 (COCO-17 plus a neck, in OpenPose's order).
COCO_18_NAMES = ("Nose", "Neck", "RShoulder", "RElbow", "RWrist", "LShoulder", "LElbow", "LWrist", "RHip", "RKnee",
                 "RAnkle", "LHip", "LKnee", "LAnkle", "REye", "LEye", "REar", "LEar")
#: OpenPose's limb points: "LKnee" for left_knee, "RWrist" for right_wrist.
_OPENPOSE_LIMBS = [(f"{s}_{l}", f"{p}{l.capitalize()}") for s, p in (("left", "L"), ("right", "R")) for l in _LIMBS]
BODY_25 = _mapping("body25", BODY_25_NAMES, _OPENPOSE_LIMBS + [
    ("pelvis", "MidHip"), ("neck", "Neck"), ("head", "Nose"), ("left_toe", "LBigToe"), ("right_toe", "RBigToe"),
], approximate=("head", "neck", "left_hip", "right_hip", "pelvis"))
BODY_25B = _mapping("body25b", BODY_25B_NAMES, _OPENPOSE_LIMBS + [
    ("neck", "Neck"), ("head", "Nose"), ("head_top", "Head"), ("left_toe", "LBigToe"), ("right_toe", "RBigToe"),
], approximate=("head", "head_top", "neck", "left_hip", "right_hip"))
COCO_18 = _mapping("coco18", COCO_18_NAMES, _OPENPOSE_LIMBS + [("neck", "Neck"), ("head", "Nose")],
                   approximate=("head", "neck", "left_hip", "right_hip"))

#: Every joint set phymo reads, by name: the importers, the detectors, the evaluation and the docs table use it.
JOINT_MAPPINGS: dict[str, JointMapping] = {
    m.name: m for m in (H36M_17, COCO_17, MEDIAPIPE_33, SMPL_24, CMU, BODY_25, BODY_25B, COCO_18)}


def get_mapping(name: str) -> JointMapping:
    """The mapping called ``name`` (e.g. ``"mediapipe33"``, ``"body25"``); ValueError lists the known ones."""
    try:
        return JOINT_MAPPINGS[name]
    except KeyError:
        raise ValueError(f"unknown joint set {name!r}; known: {', '.join(sorted(JOINT_MAPPINGS))}") from None
