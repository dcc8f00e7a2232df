"""Triangulated body markers as canonical joints: the OpenPose/Pose2Sim marker names, their axes, their height.

Multi-view tools (Pose2Sim, and OpenCap or FreeMoCap in the same spirit) triangulate OpenPose-style
keypoints and write them as TRC markers named ``RHip, RKnee, RAnkle, RBigToe, RSmallToe, RHeel, LHip,
..., Neck, Head, Nose, RShoulder, RElbow, RWrist, ...``. :data:`MARKER_JOINTS` names the marker that
stands for each canonical joint (:mod:`phymo.data.skeleton`):

- hips, knees, ankles, shoulders, elbows, wrists: the marker of that name and side;
- toes: the big toes (the canonical toe sits at the ball of the foot, in front of the ankle);
- neck: ``Neck`` (OpenPose BODY_25B's upper neck, ~4 cm above the shoulders' midpoint; the canonical
  neck is 3 cm above the shoulder line);
- head_top: ``Head`` (BODY_25B's head top).

No marker stands for the pelvis, spine, chest, collars or the canonical head joint (inside the skull;
the nose is ~10 cm in front of it), so ``Nose``, the heels and the small toes are not used. The
pelvis slot holds the hips' midpoint: scoring puts the same midpoint in the prediction's pelvis slot.

Axes: Pose2Sim writes its Z-up lab (calibration) frame into OpenSim's Y-up by a cyclic permutation,
``(x, y, z)_trc = (y, z, x)_lab``; :func:`trc_to_lab` undoes it. Checked by projecting the markers
through the Qualisys calibration onto the OpenPose detections of all four views of the shared trial.
"""

from __future__ import annotations

import numpy as np

from .skeleton import CANONICAL
from .trc import TrcMarkers

#: canonical joint -> the TRC marker that stands for it (see the module docstring)
MARKER_JOINTS: dict[str, str] = {
    **{f"{side}_{joint}": f"{s}{m}" for side, s in (("left", "L"), ("right", "R")) for joint, m in (
        ("hip", "Hip"), ("knee", "Knee"), ("ankle", "Ankle"), ("toe", "BigToe"), ("shoulder", "Shoulder"),
        ("elbow", "Elbow"), ("wrist", "Wrist"))},
    "neck": "Neck",
    "head_top": "Head",
}

#: ``lab = TRC_TO_LAB @ trc``: Pose2Sim's TRC axes back to its Z-up lab axes
TRC_TO_LAB = np.array([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])

#: (joint, child) bones whose both ends have markers: the limbs the height is measured on
LIMB_BONES = tuple((f"{side}_{a}", f"{side}_{b}") for side in ("left", "right")
                   for a, b in (("hip", "knee"), ("knee", "ankle"), ("shoulder", "elbow"), ("elbow", "wrist")))


def trc_to_lab(points: np.ndarray) -> np.ndarray:
    """Points ``(..., 3)`` in Pose2Sim's TRC axes (Y up) to its lab axes (Z up, the calibration's world)."""
    return np.asarray(points, dtype=np.float64) @ TRC_TO_LAB.T


def markers_to_canonical(markers: TrcMarkers) -> tuple[np.ndarray, list[int]]:
    """Canonical joint positions from markers, in the markers' axes.

    Returns ``(T, J, 3)`` metres in canonical order (NaN for joints without a marker; the pelvis slot
    holds the hips' midpoint) and the canonical indices that hold markers, pelvis first. A marker the
    file lacks leaves its joint out; the two hips are required.
    """
    hips = [markers.marker(MARKER_JOINTS[n]) for n in ("left_hip", "right_hip")]  # required: names the file
    out = np.full((markers.num_frames, CANONICAL.num_joints, 3), np.nan)
    have = [name for name, m in MARKER_JOINTS.items() if m in markers.names]
    for name in have:
        out[:, CANONICAL.index(name)] = markers.marker(MARKER_JOINTS[name])
    out[:, 0] = 0.5 * (hips[0] + hips[1])
    return out, [0] + [CANONICAL.index(n) for n in have]


def marker_height(positions: np.ndarray) -> float:
    """The height (m) at which the canonical skeleton's limbs have the markers' lengths.

    ``positions (T, J, 3)`` canonical order (from :func:`markers_to_canonical`). Each limb bone of
    :data:`LIMB_BONES` gets its median length over the frames; the median ratio to the canonical bone
    times the canonical height is the height phymo's ``--height`` would need to build this body.
    """
    ratios = []
    for a, b in LIMB_BONES:
        i, j = CANONICAL.index(a), CANONICAL.index(b)
        length = np.nanmedian(np.linalg.norm(positions[:, j] - positions[:, i], axis=-1))
        if np.isfinite(length):
            ratios.append(length / np.linalg.norm(CANONICAL.offsets[j]))
    if not ratios:
        raise ValueError("no limb has markers at both ends; cannot measure a height")
    return float(np.median(ratios) * CANONICAL.height())
