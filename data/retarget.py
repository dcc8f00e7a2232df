"""Retarget BVH clips from the known mocap families to phymo's canonical skeleton.

Steps, per clip (:func:`bvh_to_motion`):

1. Family: detected from joint names (:data:`FAMILIES`); each family maps canonical joints to
   source joints (``"Name:end"`` means the End Site under ``Name``; ``"A|B"`` the first present;
   CMU's ``Neck`` often sits on ``Spine1``, so its ``Neck1`` is preferred).
2. Axes: the up axis is the file axis along which the head sits above the pelvis on average
   (Y for all shipped families; Z handled too). File axes map to phymo's by a proper rotation:
   Y up ``(x, y, z) -> (z, x, y)`` (a source facing +Z faces +X), Z up unchanged.
3. Units: the median hip-knee-ankle leg length in file units is compared with a typical 0.8 m leg;
   the nearest of metres, centimetres, millimetres, inches and CMU units (0.056444 m) wins.
4. Skeleton: the canonical tree with this person's offsets. Single-bone chains keep the canonical
   T-pose direction with the source's median bone length; the children of the two branch joints
   (pelvis: spine and hips; chest: neck and collars) get the source's median offsets in the
   branch joint's frame (below). Source bones under 1 mm (coincident joints) become 1 mm along the
   canonical direction, so no segment has zero length. Unmapped joints get the canonical offset
   times the median length ratio of the mapped bones.
5. Rotations: world rotations solved from the source's world joint positions. Branch joints
   (pelvis, chest) get a frame with ``y`` along the left-right line (hips; collars, or shoulders
   where the collars coincide) and ``x = y x up`` (forward), ``up`` towards the spine/neck (from
   the spine where neck and chest coincide). A joint with one child gets the smallest rotation
   (swing) that turns its parent's world rotation applied to the child's rest offset onto the
   source's world bone. Hips and shoulders then take their twist about the bone from the limb's
   bend plane (thigh-shin, upper arm-forearm), so knees and elbows come out as hinges about the
   canonical axis; other joints keep the parent's twist (the source's own axial
   twist, e.g. of the forearm, is not transferred: positions do not determine it). Leaves take
   their parent's world rotation. Local rotations follow.
6. Root: the source pelvis position in metres, lowered so the lowest foot joint over the clip is
   at z = 0. Frames and frame time are kept as they are (no T-pose frame is dropped).

Mapped joint positions are reproduced exactly along chains; the residual sits at the branch
children, where the source is not rigid (e.g. CMU's LowerBack/LHipJoint bend).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .bvh import BvhClip, read_bvh
from .errors import DataFormatError
from .motion import Motion
from .rotations import _unit, matrix_to_quat, quat_conj, quat_mul, quat_normalize, quat_to_matrix, swing
from .skeleton import CANONICAL, FOOT_JOINTS, JOINT_MAPPINGS, Skeleton

_LIMB = ("hip", "knee", "ankle", "toe", "collar", "shoulder", "elbow", "wrist")


def _sided(left: tuple[str, ...], right: tuple[str, ...]) -> dict[str, str]:
    return {**{f"left_{c}": n for c, n in zip(_LIMB, left, strict=True)},
            **{f"right_{c}": n for c, n in zip(_LIMB, right, strict=True)}}


@dataclass(frozen=True)
class Family:
    """A mocap skeleton family: a name, the joints that identify it, canonical -> source names."""

    name: str
    signature: tuple[str, ...]
    joints: dict[str, str]


_CMU_PAIRS = {c: JOINT_MAPPINGS["cmu"].external_names[e] for c, e in JOINT_MAPPINGS["cmu"].pairs}

#: Known families, tried in order; the first whose signature joints are all present wins.
FAMILIES: tuple[Family, ...] = (
    Family("cmu_max", ("LeftHip", "LeftKnee", "Chest2", "lowerneck"), {
        "pelvis": "Hips", "spine": "Chest", "chest": "Chest2", "neck": "lowerneck", "head": "Head",
        "head_top": "Head:end",
        **_sided(("LeftHip", "LeftKnee", "LeftAnkle", "LeftToe", "LeftCollar", "LeftShoulder", "LeftElbow",
                  "LeftWrist"),
                 ("RightHip", "RightKnee", "RightAnkle", "RightToe", "RightCollar", "RightShoulder", "RightElbow",
                  "RightWrist"))}),
    # cgspeed MotionBuilder release, Xia et al. (CMU skeleton) and SFU share these names.
    Family("cmu", ("LeftUpLeg", "LeftLeg", "LeftFoot", "Spine1", "LeftForeArm"),
           {**_CMU_PAIRS, "neck": "Neck1|Neck", "head_top": "HeadTop|Head:end"}),
    Family("secondlife", ("hip", "abdomen", "lThigh", "lShin"), {
        "pelvis": "hip", "spine": "abdomen", "chest": "chest", "neck": "neck", "head": "head",
        **_sided(("lThigh", "lShin", "lFoot", "lFoot:end", "lCollar", "lShldr", "lForeArm", "lHand"),
                 ("rThigh", "rShin", "rFoot", "rFoot:end", "rCollar", "rShldr", "rForeArm", "rHand"))}),
    Family("iclone_cc", ("CC_Base_Hip", "CC_Base_L_Thigh"), {
        "pelvis": "CC_Base_Hip", "spine": "CC_Base_Waist", "chest": "CC_Base_Spine02",
        "neck": "CC_Base_NeckTwist01", "head": "CC_Base_Head",
        **_sided(tuple(f"CC_Base_L_{n}" for n in ("Thigh", "Calf", "Foot", "ToeBase", "Clavicle", "Upperarm",
                                                   "Forearm", "Hand")),
                 tuple(f"CC_Base_R_{n}" for n in ("Thigh", "Calf", "Foot", "ToeBase", "Clavicle", "Upperarm",
                                                   "Forearm", "Hand")))}),
    Family("bandai_namco", ("UpperLeg_L", "LowerLeg_L", "Toes_L"), {
        "pelvis": "Hips", "spine": "Spine", "chest": "Chest", "neck": "Neck", "head": "Head",
        "head_top": "Head:end",
        **_sided(tuple(f"{n}_L" for n in ("UpperLeg", "LowerLeg", "Foot", "Toes", "Shoulder", "UpperArm",
                                           "LowerArm", "Hand")),
                 tuple(f"{n}_R" for n in ("UpperLeg", "LowerLeg", "Foot", "Toes", "Shoulder", "UpperArm",
                                           "LowerArm", "Hand")))}),
)

#: Candidate file units, metres per unit (CMU: 1/0.45 inch per unit, per the CMU FAQ).
UNIT_SCALES = {"m": 1.0, "cm": 0.01, "mm": 0.001, "in": 0.0254, "cmu": 0.056444}
_TYPICAL_LEG_M = 0.8
#: File axes -> phymo axes (rows: phymo x, y, z), by file up axis.
_TO_INTERNAL = {1: np.array([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]), 2: np.eye(3)}
#: Branch joint -> (up child, fallback base of the up vector, left point, right point) defining its frame.
#: Left/right points are tried in turn until one pair lies 5 cm apart.
_BRANCHES = {"pelvis": ("spine", "pelvis", ("hip",)),
             "chest": ("neck", "spine", ("collar", "shoulder"))}
_MIN_BONE_M = 0.001
#: Limb root -> (grandchild, bend normal of the straight rest limb): its twist follows the bend plane.
#: Knees flex about +y (left); T-pose elbows flex forward, about -z (left arm) and +z (right arm).
#: Knees and elbows then need no twist of their own: their swing turns about that same hinge axis.
_BEND = {"left_hip": ("left_ankle", (0.0, 1.0, 0.0)), "right_hip": ("right_ankle", (0.0, 1.0, 0.0)),
         "left_shoulder": ("left_wrist", (0.0, 0.0, -1.0)), "right_shoulder": ("right_wrist", (0.0, 0.0, 1.0))}
_STRAIGHT_SIN = 0.17  # sin(~10 deg): below this bend a limb counts as straight for its twist


def detect_family(names: tuple[str, ...] | list[str]) -> Family:
    """The first family in :data:`FAMILIES` whose signature joints all appear in ``names``."""
    present = set(names)
    for fam in FAMILIES:
        if present.issuperset(fam.signature):
            return fam
    raise DataFormatError(f"unknown BVH skeleton (root {names[0]!r}); supported families: "
                          f"{', '.join(f.name for f in FAMILIES)}")


def load_bvh_motion(path: str | Path) -> Motion:
    """Read a BVH file and retarget it to the canonical skeleton (see :func:`bvh_to_motion`)."""
    return bvh_to_motion(read_bvh(path))


def bvh_to_motion(clip: BvhClip) -> Motion:
    """Retarget ``clip`` to a person-specific canonical skeleton: Z up, metres, same frames and fps."""
    try:
        fam = detect_family(clip.names)
    except DataFormatError as e:
        raise DataFormatError(f"{clip.path or '<bvh>'}: {e}") from e
    targets = mapped_positions(clip, fam)
    return solve_motion(targets, clip.fps)


def mapped_positions(clip: BvhClip, family: Family) -> dict[str, np.ndarray]:
    """Source world positions ``(T, 3)`` per mapped canonical joint, in phymo's axes and metres."""
    pos = clip.world_positions(include_end_sites=True)
    cols = {}
    for canon, alternatives in family.joints.items():
        src = next((a for a in alternatives.split("|") if a.partition(":")[0] in clip.names), None)
        if src is None:
            continue
        name, _, end = src.partition(":")
        j = clip.index(name)
        if end:
            if j not in clip.end_site_parents:
                continue
            cols[canon] = clip.num_joints + clip.end_site_parents.index(j)
        else:
            cols[canon] = j
    required = ("pelvis", "spine", "chest", "neck", *(f"{s}_{j}" for s in ("left", "right")
                                                      for j in ("hip", "knee", "ankle", "collar", "shoulder")))
    missing = [c for c in required if c not in cols]
    if missing:
        raise DataFormatError(f"{clip.path or '<bvh>'}: no source joint for canonical {missing}")
    up = _up_axis(pos[:, cols["head"] if "head" in cols else cols["neck"]] - pos[:, cols["pelvis"]], clip)
    leg = np.median(np.linalg.norm(pos[:, cols["left_hip"]] - pos[:, cols["left_knee"]], axis=-1)
                    + np.linalg.norm(pos[:, cols["left_knee"]] - pos[:, cols["left_ankle"]], axis=-1))
    scale = min(UNIT_SCALES.values(), key=lambda s: abs(np.log(max(leg, 1e-9) * s / _TYPICAL_LEG_M)))
    pos = pos @ _TO_INTERNAL[up].T * scale
    return {c: pos[:, k] for c, k in cols.items()}


def _up_axis(head_minus_pelvis: np.ndarray, clip: BvhClip) -> int:
    mean = head_minus_pelvis.mean(axis=0)
    axis = int(np.argmax(np.abs(mean)))
    if axis == 0 or mean[axis] <= 0:
        raise DataFormatError(f"{clip.path or '<bvh>'}: cannot tell the up axis (mean head-pelvis {mean})")
    return axis


def solve_motion(targets: dict[str, np.ndarray], fps: float, skeleton: Skeleton = CANONICAL) -> Motion:
    """Fit offsets and rotations so canonical FK reproduces ``targets`` (canonical name -> ``(T, 3)`` m)."""
    names, parents = skeleton.names, skeleton.parents
    t = next(iter(targets.values())).shape[0]
    frames = {j: _branch_frame(targets, j) for j in _BRANCHES}
    offsets = skeleton.offsets.copy()
    ratios = []
    for j in range(1, skeleton.num_joints):
        n, pn = names[j], names[parents[j]]
        if n not in targets or pn not in targets:
            continue
        bone = targets[n] - targets[pn]
        if pn in frames:
            offsets[j] = np.median(np.einsum("tji,tj->ti", frames[pn], bone), axis=0)
        else:
            length = np.median(np.linalg.norm(bone, axis=-1))
            offsets[j] = skeleton.offsets[j] / np.linalg.norm(skeleton.offsets[j]) * length
        if np.linalg.norm(offsets[j]) < _MIN_BONE_M:
            offsets[j] = skeleton.offsets[j] / np.linalg.norm(skeleton.offsets[j]) * _MIN_BONE_M
        else:
            ratios.append(np.linalg.norm(offsets[j]) / np.linalg.norm(skeleton.offsets[j]))
    ratio = float(np.median(ratios))
    for j in range(1, skeleton.num_joints):
        if names[j] not in targets or names[parents[j]] not in targets:
            offsets[j] = skeleton.offsets[j] * ratio
    world = np.zeros((t, skeleton.num_joints, 3, 3))
    for j, p in enumerate(parents):
        kids = [c for c in skeleton.children(j) if names[c] in targets]
        if names[j] in frames:  # the root (pelvis) is always a branch joint
            world[:, j] = frames[names[j]]
        elif len(kids) == 1 and names[j] in targets:
            c = kids[0]
            rest_dir = np.einsum("tij,j->ti", world[:, p], offsets[c])
            world[:, j] = quat_to_matrix(swing(rest_dir, targets[names[c]] - targets[names[j]])) @ world[:, p]
            bend = _BEND.get(names[j])
            if bend is not None and bend[0] in targets:
                world[:, j] = _bend_twist(world[:, j], offsets, skeleton, targets, names[j], names[c], *bend)
        else:
            world[:, j] = world[:, p]
    qw = quat_normalize(matrix_to_quat(world))
    local = qw.copy()
    for j, p in enumerate(parents):
        if p >= 0:
            local[:, j] = quat_mul(quat_conj(qw[:, p]), qw[:, j])
    motion = Motion(skeleton.with_offsets(offsets), fps, targets[names[0]].copy(), quat_normalize(local))
    feet = motion.positions()[:, [skeleton.index(f) for f in FOOT_JOINTS], 2]
    motion.root_translation[:, 2] -= feet.min()
    return motion


def _branch_frame(targets: dict[str, np.ndarray], joint: str) -> np.ndarray:
    """``(T, 3, 3)`` world frame (columns x forward, y left, z up) of a branch joint from nearby joints.

    ``up`` runs from the joint to its up child, or from the base joint when the two coincide
    (CMU's chest and neck can share a position).
    """
    up_child, base, sides = _BRANCHES[joint]
    up = targets[up_child] - targets[joint]
    if np.median(np.linalg.norm(up, axis=-1)) < 10 * _MIN_BONE_M:
        up = targets[up_child] - targets[base]
    for side in sides:
        lateral = targets[f"left_{side}"] - targets[f"right_{side}"]
        if np.median(np.linalg.norm(lateral, axis=-1)) > 0.05:
            break
    y = _unit(lateral)
    x = _unit(np.cross(y, up))
    return np.stack([x, y, np.cross(x, y)], axis=-1)


def _bend_twist(swung: np.ndarray, offsets: np.ndarray, skeleton: Skeleton, targets: dict[str, np.ndarray],
                joint: str, child: str, grandchild: str, straight_normal: tuple[float, float, float]) -> np.ndarray:
    """``(T, 3, 3)`` world rotations of ``joint`` with the twist set by the limb's bend plane.

    The bone still lands exactly on the source's (``child`` exact). The rest normal of the plane
    (joint, child, grandchild), or ``straight_normal`` for a straight rest limb, is turned onto the
    source's normal ``bone x next bone``, whose sign is the flexion direction. Below a ~10 deg bend
    the normal is ill-defined, so the previous frame's normal (the swing's prediction on the first
    frame) is blended in, the more the straighter the limb: the twist changes continuously. A limb
    hyperextended past ~10 deg reads as flexed, with its twist turned by up to 180 deg.
    """
    c, g = skeleton.index(child), skeleton.index(grandchild)
    u = _unit(offsets[c])
    n_rest = np.cross(offsets[c], offsets[g])
    n_rest = _unit(n_rest if np.linalg.norm(n_rest) > 1e-6 * np.linalg.norm(offsets[g]) else straight_normal)
    n_rest = _unit(n_rest - (n_rest @ u) * u)
    d1 = _unit(targets[child] - targets[joint])
    plane = np.cross(d1, _unit(targets[grandchild] - targets[child]))
    sin_bend = np.linalg.norm(plane, axis=-1)
    prev = swung[0] @ n_rest
    normals = np.empty_like(plane)
    for t in range(plane.shape[0]):
        n = plane[t]
        if sin_bend[t] < _STRAIGHT_SIN:
            n = n + (_STRAIGHT_SIN - sin_bend[t]) * prev
        n = n - (n @ d1[t]) * d1[t]
        prev = normals[t] = n / max(np.linalg.norm(n), 1e-12)
    rest = np.stack([u, n_rest, np.cross(u, n_rest)], axis=-1)
    return np.stack([d1, normals, np.cross(d1, normals)], axis=-1) @ rest.T


def retarget_error(motion: Motion, targets: dict[str, np.ndarray]) -> float:
    """Mean distance (m) between the motion's joints and ``targets`` (root-relative: ground shift removed)."""
    pos = motion.positions()
    shift = targets["pelvis"] - pos[:, 0]
    errs = [np.linalg.norm(pos[:, motion.skeleton.index(n)] + shift - p, axis=-1).mean() for n, p in targets.items()]
    return float(np.mean(errs))


def mapping_table_markdown() -> str:
    """Markdown tables: canonical joint -> external joint per :data:`JOINT_MAPPINGS` entry and per family."""
    maps = list(JOINT_MAPPINGS.values())
    head = ["canonical", *(m.name for m in maps)]
    rows = []
    for c in CANONICAL.names:
        cells = [c]
        for m in maps:
            hit = [e for cc, e in m.pairs if cc == c]
            mark = " (approx.)" if c in m.approximate else ""
            cells.append(f"{hit[0]} `{m.external_names[hit[0]]}`{mark}" if hit else "—")
        rows.append(cells)
    note = "BVH retarget families (source joint; `X:end` = End Site of X; `A` or `B` = first present):"
    out = [_table(head, rows), "", note, ""]
    out.append(_table(["canonical", *(f.name for f in FAMILIES)],
                      [[c, *(_cell(f.joints.get(c)) for f in FAMILIES)] for c in CANONICAL.names]))
    return "\n".join(out) + "\n"


def _cell(source: str | None) -> str:
    return " or ".join(f"`{a}`" for a in source.split("|")) if source else "—"


def _table(head: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])
