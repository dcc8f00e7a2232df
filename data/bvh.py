"""BVH motion files: a reader for arbitrary hierarchies and a writer for phymo motions.

Reader conventions (those of MotionBuilder, Blender and most tools):

- A joint's local transform is ``T(translation) R``, where ``R`` is the product of its rotation
  channels in the order they are listed (intrinsic Euler angles, degrees in the file) and the
  translation is the joint's ``OFFSET``, with any position channel replacing the matching
  component (so a root with ``Xposition Yposition Zposition`` gets its absolute position).
- Everything stays in the file's units and axes; :mod:`phymo.data.retarget` converts to phymo's
  frame. End Sites are kept as extra points (``end_site_parents`` / ``end_site_offsets``).

The writer, :func:`write_bvh`, converts a :class:`~phymo.data.motion.Motion` (internal Z up, x
forward, y left, metres) to the BVH conventions of the outputs: Y up, facing +Z, right-handed
(internal ``(x, y, z)`` becomes BVH ``(z, x, y)``, a proper rotation), metres or centimetres.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import DataFormatError, require_file
from .export import atomic_target
from .motion import Motion, forward_kinematics
from .rotations import (
    axis_angle_to_quat,
    euler_to_quat,
    identity_quat,
    matrix_to_quat,
    quat_conj,
    quat_mul,
    quat_normalize,
    quat_rotate,
    quat_to_euler,
)

#: Channel names a BVH joint may declare.
CHANNEL_NAMES = ("Xposition", "Yposition", "Zposition", "Xrotation", "Yrotation", "Zrotation")
_AXIS = {"X": 0, "Y": 1, "Z": 2}


@dataclass(frozen=True)
class BvhClip:
    """A parsed BVH file, in the file's own units and axes.

    Attributes:
        names: joint names (End Sites excluded), parents before children.
        parents: parent index per joint, ``-1`` for the root.
        offsets: ``(J, 3)`` OFFSET of each joint in its parent's frame, file units.
        channels: per joint, its channel names in file order (e.g. ``("Zrotation", "Xrotation", ...)``).
        frames: ``(T, C)`` channel values per frame; positions in file units, rotations in degrees.
        frame_time: seconds per frame.
        end_site_parents: joint index carrying each End Site.
        end_site_offsets: ``(E, 3)`` End Site offsets in the parent's frame, file units.
        path: the file read (``None`` for clips built in memory).
    """

    names: tuple[str, ...]
    parents: tuple[int, ...]
    offsets: np.ndarray = field(repr=False)
    channels: tuple[tuple[str, ...], ...]
    frames: np.ndarray = field(repr=False)
    frame_time: float
    end_site_parents: tuple[int, ...] = ()
    end_site_offsets: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)), repr=False)
    path: Path | None = None

    @property
    def num_frames(self) -> int:
        return self.frames.shape[0]

    @property
    def num_joints(self) -> int:
        return len(self.names)

    @property
    def fps(self) -> float:
        return 1.0 / self.frame_time

    def index(self, name: str) -> int:
        return self.names.index(name)

    def channel_start(self) -> np.ndarray:
        """``(J,)`` column of each joint's first channel in :attr:`frames`."""
        return np.concatenate([[0], np.cumsum([len(c) for c in self.channels])[:-1]]).astype(int)

    def local_translations(self) -> np.ndarray:
        """``(T, J, 3)`` local joint translations (OFFSET, overridden by position channels), file units."""
        out = np.broadcast_to(self.offsets, (self.num_frames, self.num_joints, 3)).copy()
        for j, start in enumerate(self.channel_start()):
            for k, ch in enumerate(self.channels[j]):
                if ch.endswith("position"):
                    out[:, j, _AXIS[ch[0]]] = self.frames[:, start + k]
        return out

    def local_rotations(self) -> np.ndarray:
        """``(T, J, 4)`` local joint rotations (w-first unit quaternions) from the rotation channels.

        Each joint uses its own channel order: joints with three distinct rotation axes go through
        :func:`~phymo.data.rotations.euler_to_quat` (grouped by order), others compose their
        rotation channels one by one; joints without rotation channels get identity.
        """
        out = identity_quat((self.num_frames, self.num_joints))
        groups: dict[str, tuple[list[int], list[list[int]]]] = {}
        for j, start in enumerate(self.channel_start()):
            cols = [(ch[0], start + k) for k, ch in enumerate(self.channels[j]) if ch.endswith("rotation")]
            order = "".join(a for a, _ in cols)
            if len(order) == 3 and len(set(order)) == 3:
                joints, columns = groups.setdefault(order, ([], []))
                joints.append(j)
                columns.append([c for _, c in cols])
            elif cols:
                q = identity_quat((self.num_frames,))
                for axis, c in cols:
                    q = quat_mul(q, axis_angle_to_quat(np.radians(self.frames[:, c, None]) * np.eye(3)[_AXIS[axis]]))
                out[:, j] = q
        for order, (joints, columns) in groups.items():
            out[:, joints] = euler_to_quat(np.radians(self.frames[:, columns]), order)
        return quat_normalize(out)

    def world_positions(self, include_end_sites: bool = False) -> np.ndarray:
        """``(T, J, 3)`` world joint positions by forward kinematics, file units and axes.

        With ``include_end_sites`` the End Sites follow as ``(T, J + E, 3)``, in
        :attr:`end_site_parents` order.
        """
        pos, rot = self.world_transforms()
        if not include_end_sites or not self.end_site_parents:
            return pos
        par = list(self.end_site_parents)
        ends = pos[:, par] + quat_rotate(rot[:, par], np.broadcast_to(self.end_site_offsets, pos[:, par].shape))
        return np.concatenate([pos, ends], axis=1)

    def world_transforms(self) -> tuple[np.ndarray, np.ndarray]:
        """World positions ``(T, J, 3)`` (file units) and world rotations ``(T, J, 4)`` of the joints."""
        trans = self.local_translations()
        pos, rot = forward_kinematics(self.parents, trans, trans[:, 0], self.local_rotations(),
                                      return_global_rotations=True)
        return pos, rot


def read_bvh(path: str | Path) -> BvhClip:
    """Parse a BVH file; raises :class:`InputNotFoundError` or :class:`DataFormatError` naming the file."""
    p = require_file(path)
    try:
        text = p.read_text(encoding="utf-8", errors="replace")
    except OSError as e:
        raise DataFormatError(f"{p}: cannot read ({e})") from e
    return parse_bvh(text, p)


def parse_bvh(text: str, path: Path | None = None) -> BvhClip:
    """Parse BVH text (see :func:`read_bvh`); ``path`` only names the source in error messages."""
    where = str(path) if path is not None else "<bvh text>"
    lines = text.splitlines()
    motion_line = next((i for i, ln in enumerate(lines) if ln.strip().upper() == "MOTION"), None)
    if motion_line is None:
        raise DataFormatError(f"{where}: no MOTION section; not a BVH file or truncated")
    names, parents, offsets, channels, end_par, end_off = _parse_hierarchy(lines[:motion_line], where)
    num_frames, frame_time, first = _parse_motion_header(lines, motion_line, where)
    width = sum(len(c) for c in channels)
    rows = []
    for i in range(first, len(lines)):
        vals = lines[i].split()
        if not vals:
            continue
        if len(rows) == num_frames:
            raise DataFormatError(f"{where}:{i + 1}: more data rows than 'Frames: {num_frames}'")
        if len(vals) != width:
            raise DataFormatError(
                f"{where}:{i + 1}: frame {len(rows)} has {len(vals)} values, the hierarchy declares {width} channels")
        rows.append(vals)
    if len(rows) < num_frames:
        raise DataFormatError(f"{where}: truncated, 'Frames: {num_frames}' but only {len(rows)} data rows")
    try:
        frames = np.array(rows, dtype=np.float64).reshape(num_frames, width)
    except ValueError as e:
        raise DataFormatError(f"{where}: non-numeric value in the MOTION data ({e})") from e
    return BvhClip(tuple(names), tuple(parents), np.array(offsets, dtype=np.float64).reshape(-1, 3),
                   tuple(channels), frames, frame_time, tuple(end_par),
                   np.array(end_off, dtype=np.float64).reshape(-1, 3), path)


def _parse_hierarchy(lines: list[str], where: str):
    tokens = [(i + 1, t) for i, ln in enumerate(lines) for t in ln.replace("{", " { ").replace("}", " } ").split()]
    names, parents, offsets, channels, end_par, end_off = [], [], [], [], [], []
    stack: list[int] = []  # joint index per open brace; -2 marks an End Site
    pos = 0

    def take(n: int) -> list[tuple[int, str]]:
        nonlocal pos
        if pos + n > len(tokens):
            raise DataFormatError(f"{where}: HIERARCHY ends early (after line {tokens[-1][0] if tokens else 0})")
        out = tokens[pos:pos + n]
        pos += n
        return out

    while pos < len(tokens):
        line, tok = take(1)[0]
        key = tok.upper()
        if key == "HIERARCHY":
            continue
        if key in ("ROOT", "JOINT"):
            if (key == "ROOT") != (not stack):
                raise DataFormatError(f"{where}:{line}: {tok} in the wrong place")
            names.append(take(1)[0][1])
            parents.append(stack[-1] if stack else -1)
            offsets.append(None)
            channels.append(())
            if take(1)[0][1] != "{":
                raise DataFormatError(f"{where}:{line}: expected '{{' after {tok} {names[-1]}")
            stack.append(len(names) - 1)
        elif key == "END":
            take(1)
            if not stack or stack[-1] < 0 or take(1)[0][1] != "{":
                raise DataFormatError(f"{where}:{line}: malformed End Site")
            end_par.append(stack[-1])
            end_off.append(None)
            stack.append(-2)
        elif key == "OFFSET":
            try:
                off = [float(t) for _, t in take(3)]
            except ValueError as e:
                raise DataFormatError(f"{where}:{line}: OFFSET needs three numbers ({e})") from e
            if not stack:
                raise DataFormatError(f"{where}:{line}: OFFSET outside a joint")
            if stack[-1] == -2:
                end_off[-1] = off
            else:
                offsets[stack[-1]] = off
        elif key == "CHANNELS":
            count = take(1)[0][1]
            if not count.isdigit() or not stack or stack[-1] < 0:
                raise DataFormatError(f"{where}:{line}: malformed CHANNELS")
            chans = tuple(t for _, t in take(int(count)))
            bad = [c for c in chans if c not in CHANNEL_NAMES]
            if bad:
                raise DataFormatError(f"{where}:{line}: unknown channel {bad[0]!r} (expected one of {CHANNEL_NAMES})")
            channels[stack[-1]] = chans
        elif tok == "}":
            if not stack:
                raise DataFormatError(f"{where}:{line}: unbalanced '}}'")
            stack.pop()
        else:
            raise DataFormatError(f"{where}:{line}: unexpected {tok!r} in HIERARCHY")
    if stack:
        raise DataFormatError(f"{where}: HIERARCHY has {len(stack)} unclosed '{{'")
    if not names:
        raise DataFormatError(f"{where}: HIERARCHY declares no ROOT joint")
    missing = [n for n, o in zip(names, offsets, strict=True) if o is None] + ["End Site" for o in end_off if o is None]
    if missing:
        raise DataFormatError(f"{where}: no OFFSET for {missing[0]}")
    return names, parents, offsets, channels, end_par, end_off


def _parse_motion_header(lines: list[str], motion_line: int, where: str) -> tuple[int, float, int]:
    values: dict[str, str] = {}
    i = motion_line + 1
    while i < len(lines) and len(values) < 2:
        m = re.match(r"\s*(Frames|Frame\s+Time)\s*:\s*(\S+)\s*$", lines[i], re.IGNORECASE)
        if m:
            values["time" if "time" in m.group(1).lower() else "frames"] = m.group(2)
        elif lines[i].strip():
            raise DataFormatError(f"{where}:{i + 1}: expected 'Frames:' and 'Frame Time:' after MOTION")
        i += 1
    try:
        num_frames, frame_time = int(values["frames"]), float(values["time"])
    except (KeyError, ValueError) as e:
        raise DataFormatError(f"{where}: missing or malformed 'Frames:'/'Frame Time:' line ({e})") from e
    if num_frames < 0 or not frame_time > 0:
        raise DataFormatError(f"{where}: invalid 'Frames: {num_frames}' / 'Frame Time: {frame_time}'")
    return num_frames, frame_time, i


#: BVH names for the canonical joints (unique ASCII, no spaces; MotionBuilder-like).
CANONICAL_BVH_NAMES = {
    "pelvis": "Hips", "spine": "Spine", "chest": "Spine1", "neck": "Neck", "head": "Head", "head_top": "HeadTop",
    **{f"{s}_{c}": f"{S}{b}" for s, S in (("left", "Left"), ("right", "Right")) for c, b in (
        ("hip", "UpLeg"), ("knee", "Leg"), ("ankle", "Foot"), ("toe", "ToeBase"), ("collar", "Shoulder"),
        ("shoulder", "Arm"), ("elbow", "ForeArm"), ("wrist", "Hand"))},
}

#: Rotation taking internal axes (x forward, y left, z up) to BVH axes, per output up axis.
#: ``"y"``: BVH ``(X, Y, Z) = (y, z, x)`` (Y up, facing +Z); ``"z"``: unchanged.
AXES_TO_BVH = {"y": np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [1.0, 0.0, 0.0]]), "z": np.eye(3)}
_UNIT_SCALE = {"m": 1.0, "cm": 100.0}


def bvh_joint_names(names: tuple[str, ...], overrides: dict[str, str] | None = None) -> tuple[str, ...]:
    """Unique ASCII BVH names for ``names``: overrides, then the canonical table, else sanitized; root is Hips."""
    table = {**CANONICAL_BVH_NAMES, **(overrides or {})}
    out: list[str] = []
    for i, n in enumerate(names):
        base = "Hips" if i == 0 else re.sub(r"[^A-Za-z0-9_]", "_", table.get(n, n)) or f"joint{i}"
        name, k = base, 1
        while name in out:
            name, k = f"{base}_{k}", k + 1
        out.append(name)
    return tuple(out)


def write_bvh(path: str | Path, motion: Motion, *, up: str = "y", order: str = "ZXY", units: str = "m",
              names: dict[str, str] | None = None) -> Path:
    """Write ``motion`` as BVH, atomically (temp file, then rename).

    Args:
        path: output file.
        motion: phymo motion (Z up, metres, local w-first quaternions).
        up: ``"y"`` (Y up, facing +Z; Blender/MotionBuilder) or ``"z"`` (phymo's own axes).
        order: Euler order of every joint's three rotation channels (intrinsic, e.g. ``"ZXY"``).
        units: ``"m"`` or ``"cm"`` for offsets and root positions.
        names: optional overrides of BVH joint names by skeleton joint name.

    Joints are listed depth first (the only order a BVH hierarchy allows), so the BVH joint order
    may differ from the skeleton's. The root is ``Hips`` with ``OFFSET 0 0 0`` and six channels;
    every other joint has three rotation channels; each leaf gets an End Site (:func:`end_site_offset`).
    Raises ``ValueError`` for a zero-length bone or an unknown ``up``/``units``/``order``.
    """
    if up not in AXES_TO_BVH or units not in _UNIT_SCALE:
        raise ValueError(f"up must be one of {sorted(AXES_TO_BVH)} and units one of {sorted(_UNIT_SCALE)}")
    order = order.upper()
    if sorted(order) != ["X", "Y", "Z"]:
        raise ValueError(f"order must be a permutation of XYZ, got {order!r}")
    sk = motion.skeleton
    lengths = sk.bone_lengths()[1:]
    if np.any(lengths < 1e-9):
        raise ValueError(f"zero-length bone at {sk.names[1 + int(np.argmin(lengths))]}; merge it into its parent")
    a, scale = AXES_TO_BVH[up], _UNIT_SCALE[units]
    qa = matrix_to_quat(a)
    offsets = sk.offsets @ a.T * scale
    offsets[0] = 0.0
    ends = {j: end_site_offset(sk.offsets[j]) @ a.T * scale for j in sk.leaves if j}
    rots = quat_mul(quat_mul(np.broadcast_to(qa, motion.rotations.shape), motion.rotations), quat_conj(qa))
    angles = np.degrees(quat_to_euler(rots, order))  # (T, J, 3)
    root = motion.root_translation @ a.T * scale
    order_dfs = _depth_first(sk)
    frames = np.concatenate([root, angles[:, order_dfs].reshape(motion.num_frames, -1)], axis=1)
    bvh_names = bvh_joint_names(sk.names, names)
    rot_channels = " ".join(f"{c}rotation" for c in order)

    lines = ["HIERARCHY"]

    def emit(j: int, depth: int) -> None:
        pad = "\t" * depth
        lines.append(f"{pad}{'ROOT' if j == 0 else 'JOINT'} {bvh_names[j]}")
        lines.append(f"{pad}{{")
        lines.append(f"{pad}\tOFFSET {_fmt(offsets[j])}")
        pos = "Xposition Yposition Zposition " if j == 0 else ""
        lines.append(f"{pad}\tCHANNELS {6 if j == 0 else 3} {pos}{rot_channels}")
        kids = sk.children(j)
        for c in kids:
            emit(c, depth + 1)
        if not kids:
            end = ends[j] if j else np.array([0.0, 0.1 * scale, 0.0])
            lines.extend([f"{pad}\tEnd Site", f"{pad}\t{{", f"{pad}\t\tOFFSET {_fmt(end)}", f"{pad}\t}}"])
        lines.append(f"{pad}}}")

    emit(0, 0)
    lines += ["MOTION", f"Frames: {motion.num_frames}", f"Frame Time: {1.0 / motion.fps!r}"]
    buf = io.StringIO()
    np.savetxt(buf, frames, fmt="%.9g", delimiter=" ")
    path = Path(path)
    with atomic_target(path) as tmp:
        tmp.write_text("\n".join(lines) + "\n" + buf.getvalue(), encoding="ascii")
    return path


def end_site_offset(bone: np.ndarray, max_length: float = 0.1) -> np.ndarray:
    """End Site offset ``(3,)`` of a leaf joint whose rest bone from its parent is ``bone`` (internal axes, m).

    Tools draw the leaf's bone from the joint to its End Site. It continues the parent's bone (half its
    length, at most ``max_length``), except where that bone points down at rest (ankle to toe): there it
    runs level along the bone's ground direction, so a toe bone lies along the foot at the height of the
    toe joint (the sole) instead of reaching below it into the floor.
    """
    direction = np.array(bone, dtype=np.float64)
    if direction[2] < 0 and np.linalg.norm(direction[:2]) > 1e-9:
        direction[2] = 0.0
    return direction / np.linalg.norm(direction) * min(0.5 * float(np.linalg.norm(bone)), max_length)


def _depth_first(sk) -> list[int]:
    """Joint indices in the order a BVH HIERARCHY lists them (depth first, children in index order)."""
    out, stack = [], [0]
    while stack:
        j = stack.pop()
        out.append(j)
        stack.extend(reversed(sk.children(j)))
    return out


def _fmt(v: np.ndarray) -> str:
    return " ".join(f"{x:.9g}" for x in np.asarray(v) + 0.0)
