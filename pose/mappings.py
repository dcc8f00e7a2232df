"""Joint mappings of the OpenPose joint sets (BODY_25, BODY_25B, COCO-18) onto the canonical skeleton.

Built with the foundation's :class:`phymo.data.JointMapping`, like the mappings in
:mod:`phymo.data.skeleton`; :data:`POSE_JOINT_MAPPINGS` adds them to the foundation's registry.
"""

from __future__ import annotations

from phymo.data.skeleton import JOINT_MAPPINGS, JointMapping

_LIMBS = ("hip", "knee", "ankle", "shoulder", "elbow", "wrist")
_SIDES = {"left": "L", "right": "R"}
_PASCAL = {"hip": "Hip", "knee": "Knee", "ankle": "Ankle", "shoulder": "Shoulder", "elbow": "Elbow", "wrist": "Wrist"}


def _limb_pairs(ext: tuple[str, ...]) -> list[tuple[str, int]]:
    return [(f"{s}_{l}", ext.index(f"{p}{_PASCAL[l]}")) for s, p in _SIDES.items() for l in _LIMBS]


def _make(name: str, ext: tuple[str, ...], extra: list[tuple[str, str]], approximate: tuple[str, ...]) -> JointMapping:
    pairs = _limb_pairs(ext) + [(c, ext.index(e)) for c, e in extra]
    return JointMapping(name, ext, tuple(pairs), approximate)


#: OpenPose BODY_25 (the default OpenPose body model).
BODY_25_NAMES = ("Nose", "Neck", "RShoulder", "RElbow", "RWrist", "LShoulder", "LElbow", "LWrist", "MidHip", "RHip",
                 "RKnee", "RAnkle", "LHip", "LKnee", "LAnkle", "REye", "LEye", "REar", "LEar", "LBigToe",
                 "LSmallToe", "LHeel", "RBigToe", "RSmallToe", "RHeel")
BODY_25 = _make("body25", BODY_25_NAMES,
                [("pelvis", "MidHip"), ("neck", "Neck"), ("head", "Nose"), ("left_toe", "LBigToe"),
                 ("right_toe", "RBigToe")],
                approximate=("head", "neck", "left_hip", "right_hip", "pelvis"))

#: OpenPose BODY_25B (the experimental, more accurate model Pose2Sim uses): COCO order first.
BODY_25B_NAMES = ("Nose", "LEye", "REye", "LEar", "REar", "LShoulder", "RShoulder", "LElbow", "RElbow", "LWrist",
                  "RWrist", "LHip", "RHip", "LKnee", "RKnee", "LAnkle", "RAnkle", "Neck", "Head", "LBigToe",
                  "LSmallToe", "LHeel", "RBigToe", "RSmallToe", "RHeel")
BODY_25B = _make("body25b", BODY_25B_NAMES,
                 [("neck", "Neck"), ("head", "Nose"), ("head_top", "Head"), ("left_toe", "LBigToe"),
                  ("right_toe", "RBigToe")],
                 approximate=("head", "head_top", "neck", "left_hip", "right_hip"))

#: OpenPose COCO-18 (COCO-17 plus a neck, in OpenPose's order).
COCO_18_NAMES = ("Nose", "Neck", "RShoulder", "RElbow", "RWrist", "LShoulder", "LElbow", "LWrist", "RHip", "RKnee",
                 "RAnkle", "LHip", "LKnee", "LAnkle", "REye", "LEye", "REar", "LEar")
COCO_18 = _make("coco18", COCO_18_NAMES, [("neck", "Neck"), ("head", "Nose")],
                approximate=("head", "neck", "left_hip", "right_hip"))

#: The foundation's mappings plus the OpenPose ones, by name.
POSE_JOINT_MAPPINGS: dict[str, JointMapping] = {**JOINT_MAPPINGS, **{m.name: m for m in (BODY_25, BODY_25B, COCO_18)}}


def get_mapping(name: str) -> JointMapping:
    """The mapping called ``name`` (e.g. ``"mediapipe33"``, ``"body25"``); ValueError lists the known ones."""
    try:
        return POSE_JOINT_MAPPINGS[name]
    except KeyError:
        raise ValueError(f"unknown joint set {name!r}; known: {', '.join(sorted(POSE_JOINT_MAPPINGS))}") from None
