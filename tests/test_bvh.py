"""BVH reader and writer: a hand-checked fixture, typed errors, every shared file, writer axes and round trip."""


import numpy as np
import pytest

from phymo.data import (
    CANONICAL,
    DataFormatError,
    InputNotFoundError,
    Motion,
    axis_angle_to_quat,
    identity_quat,
    quat_mul,
)
from phymo.data.bvh import bvh_joint_names, read_bvh, write_bvh

# Root with 6 channels (odd rotation order), a joint with only a Y rotation, a 2-position-channel joint,
# tabs, CRLF and an End Site.
FIXTURE = (
    "HIERARCHY\r\nROOT Root\r\n{\r\n\tOFFSET 0 0 0\r\n"
    "\tCHANNELS 6 Xposition Yposition Zposition Yrotation Xrotation Zrotation\r\n"
    "\tJOINT A\r\n\t{\r\n\t\tOFFSET 1 0 0\r\n\t\tCHANNELS 1 Yrotation\r\n"
    "\t\tJOINT B\r\n\t\t{\r\n   OFFSET  0  2  0 \r\n\t\t\tCHANNELS 2 Xposition Zrotation\r\n"
    "\t\t\tEnd Site\r\n\t\t\t{\r\n\t\t\t\tOFFSET 0 1 0\r\n\t\t\t}\r\n\t\t}\r\n\t}\r\n"
    "\tJOINT C\r\n\t{\r\n\t\tOFFSET 0 0 3\r\n\t\tCHANNELS 3 Zrotation Xrotation Yrotation\r\n"
    "\t\tEnd Site\r\n\t\t{\r\n\t\t\tOFFSET 0 0 1\r\n\t\t}\r\n\t}\r\n}\r\n"
    "MOTION\r\nFrames:\t2\r\nFrame Time: 0.04\r\n"
    "0 0 0 0 0 0  0  0 0  0 0 0\r\n"
    "10 20 30 90 0 0  -90  5 90  0 0 0\r\n"
)


def _write(tmp_path, text, name="clip.bvh"):
    p = tmp_path / name
    p.write_bytes(text.encode())
    return p


def test_fixture_structure_and_hand_computed_fk(tmp_path):
    clip = read_bvh(_write(tmp_path, FIXTURE))
    assert clip.names == ("Root", "A", "B", "C")
    assert clip.parents == (-1, 0, 1, 0)
    assert clip.channels[1] == ("Yrotation",) and clip.channels[2] == ("Xposition", "Zrotation")
    assert clip.num_frames == 2 and clip.fps == pytest.approx(25.0)
    assert clip.end_site_parents == (2, 3)
    pos = clip.world_positions(include_end_sites=True)
    rest = [[0, 0, 0], [1, 0, 0], [1, 2, 0], [0, 0, 3], [1, 3, 0], [0, 0, 4]]
    np.testing.assert_allclose(pos[0], rest, atol=1e-12)
    # Frame 1: root at (10,20,30) turned +90 deg about Y (x -> -z, z -> x). A: -90 about Y in the
    # root frame undoes it, so A's frame is world-aligned. B: position channel x=5 replaces OFFSET x,
    # then rotated 90 about Z (y -> -x) for its End Site. C has zero rotation.
    expected = [[10, 20, 30], [10, 20, 29], [15, 22, 29], [13, 20, 30], [14, 22, 29], [14, 20, 30]]
    np.testing.assert_allclose(pos[1], expected, atol=1e-9)


def test_local_rotations_follow_each_joints_channel_order(tmp_path):
    text = FIXTURE.replace("10 20 30 90 0 0  -90  5 90  0 0 0", "0 0 0 0 0 0  0  0 0  30 40 50")
    q = read_bvh(_write(tmp_path, text)).local_rotations()[1, 3]
    z, x, y = (axis_angle_to_quat(np.radians(a) * np.eye(3)[i]) for a, i in ((30, 2), (40, 0), (50, 1)))
    np.testing.assert_allclose(q, quat_mul(quat_mul(z, x), y), atol=1e-12)


@pytest.mark.parametrize(("edit", "needle"), [
    (lambda t: t.rsplit("10 20 30", 1)[0], "truncated"),
    (lambda t: t.replace("CHANNELS 1 Yrotation", "CHANNELS 1 Wrotation"), "unknown channel 'Wrotation'"),
    (lambda t: t.replace("-90  5 90", "-90  5"), ":34: frame 1 has 11 values"),
    (lambda t: t.replace("Frames:\t2", "Frames: two"), "Frames"),
    (lambda t: t.split("MOTION")[0], "no MOTION"),
])
def test_bad_input_raises_typed_error_naming_the_file(tmp_path, edit, needle):
    p = _write(tmp_path, edit(FIXTURE), "bad.bvh")
    with pytest.raises(DataFormatError) as e:
        read_bvh(p)
    assert str(p) in str(e.value) and needle in str(e.value)


def test_missing_file(tmp_path):
    with pytest.raises(InputNotFoundError, match="nope.bvh"):
        read_bvh(tmp_path / "nope.bvh")


def _canonical_motion(rotations, fps=30.0):
    t = rotations.shape[0]
    root = np.tile([0.3, -0.2, 0.95], (t, 1)) + np.linspace(0, 1, t)[:, None] * [1.0, 0.5, 0.0]
    return Motion(CANONICAL, fps, root, rotations)


def _bvh_order(clip):
    """Canonical joint index for each BVH joint (the writer lists joints depth first)."""
    names = bvh_joint_names(CANONICAL.names)
    return [names.index(n) for n in clip.names]


@pytest.mark.parametrize(("axis", "bvh_axis"), [(0, 2), (1, 0), (2, 1)])
def test_writer_maps_90_degree_rotation_per_axis(tmp_path, axis, bvh_axis):
    """A 90 deg turn about internal x (forward), y (left), z (up) must read as BVH Z, X, Y (Y-up, facing +Z)."""
    j = CANONICAL.num_joints
    rot = identity_quat((j, j))
    for k in range(j):
        rot[k, k] = axis_angle_to_quat(np.pi / 2 * np.eye(3)[axis])
    clip = read_bvh(write_bvh(tmp_path / "r.bvh", _canonical_motion(rot)))
    local = clip.local_rotations()
    expected = axis_angle_to_quat(np.pi / 2 * np.eye(3)[bvh_axis])
    for b, k in enumerate(_bvh_order(clip)):
        got = local[k, b]
        np.testing.assert_allclose(got * np.sign(got[0]), expected, atol=1e-7, err_msg=clip.names[b])
        others = np.delete(np.arange(j), b)
        np.testing.assert_allclose(np.abs(local[k, others, 0]), 1.0, atol=1e-9)
    # Away from gimbal lock the channels themselves carry the angle: internal z (up) is BVH Y.
    if bvh_axis == 1:
        start = clip.channel_start()[3]
        np.testing.assert_allclose(clip.frames[3, start:start + 3], [0.0, 0.0, 90.0], atol=1e-6)


def test_writer_layout_and_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    rot = axis_angle_to_quat(rng.normal(scale=0.6, size=(5, CANONICAL.num_joints, 3)))
    motion = _canonical_motion(rot, fps=29.97)
    for units, factor in (("m", 1.0), ("cm", 100.0)):
        path = write_bvh(tmp_path / f"o_{units}.bvh", motion, units=units)
        text = path.read_text()
        assert "Frame Time: 0.03336670003336670" in text and f"Frame Time: {1 / 29.97!r}\n" in text
        clip = read_bvh(path)
        assert clip.names[0] == "Hips" and len(set(clip.names)) == CANONICAL.num_joints
        assert clip.channels[0] == ("Xposition", "Yposition", "Zposition", "Zrotation", "Xrotation", "Yrotation")
        assert all(c == ("Zrotation", "Xrotation", "Yrotation") for c in clip.channels[1:])
        assert np.all(clip.offsets[0] == 0) and np.all(np.linalg.norm(clip.offsets[1:], axis=1) > 0)
        assert sorted(clip.end_site_parents) == sorted(CANONICAL.leaves)
        # BVH (X, Y, Z) = internal (y, z, x).
        expected = motion.positions()[:, _bvh_order(clip)][..., [1, 2, 0]] * factor
        np.testing.assert_allclose(clip.world_positions(), expected, atol=1e-7 * factor)
        assert not list(tmp_path.glob(".o_*"))


def test_writer_z_up_keeps_axes(tmp_path):
    rot = axis_angle_to_quat(np.random.default_rng(1).normal(scale=0.5, size=(3, CANONICAL.num_joints, 3)))
    motion = _canonical_motion(rot)
    clip = read_bvh(write_bvh(tmp_path / "z.bvh", motion, up="z", order="XYZ"))
    np.testing.assert_allclose(clip.world_positions(), motion.positions()[:, _bvh_order(clip)], atol=1e-7)


def test_every_shared_bvh_loads(shared_data):
    """All shared BVH files parse: frame count equals the header, names match the HIERARCHY (~2 s)."""
    import re

    files = sorted(shared_data().rglob("*.bvh"))
    if not files:
        pytest.skip("no shared BVH files")
    for path in files:
        clip = read_bvh(path)
        text = path.read_text(errors="replace")
        assert clip.num_frames == int(re.search(r"Frames:\s*(\d+)", text).group(1)), path
        assert list(clip.names) == re.findall(r"(?:ROOT|JOINT)\s+(\S+)", text), path
        assert clip.frames.shape[1] == sum(len(c) for c in clip.channels)
        assert np.isfinite(clip.world_positions()).all(), path


def test_toe_end_site_lies_along_the_foot_level_with_the_sole(tmp_path):
    """An independent reader (bvhio) draws each toe bone level with the toe joint, ahead of it along the foot:
    standing flat with toes on the floor (turned 0 and 90 degrees about the vertical), no toe bone reaches
    below the floor (issue 21: the End Site continued the ankle-to-toe line 3 cm down)."""
    bvhio = pytest.importorskip("bvhio")
    import glm

    rot = identity_quat((2, CANONICAL.num_joints))
    rot[1, 0] = axis_angle_to_quat(np.array([0.0, 0.0, np.pi / 2]))
    toe_height = -CANONICAL.rest_positions()[:, 2].min()  # root height that puts the toes on the floor
    motion = Motion(CANONICAL, 30.0, np.tile([0.0, 0.0, toe_height], (2, 1)), rot)
    path = write_bvh(tmp_path / "flat.bvh", motion)
    root = bvhio.readAsHierarchy(str(path))
    lengths = {}

    def collect(joint):
        lengths[joint.Name] = joint.getLength()
        for child in joint.Children:
            collect(child)

    collect(bvhio.readAsBvh(str(path)).Root)
    for frame, forward in ((0, [0.0, 0.0, 1.0]), (1, [1.0, 0.0, 0.0])):  # BVH: facing +Z, then turned to +X
        root.loadPose(frame)
        for name in ("LeftToeBase", "RightToeBase"):
            toe = root.filter(name)[0]
            base = np.array(list(toe.PositionWorld))
            tip = np.array(list(toe.pointToWorld(glm.vec3(0.0, lengths[name], 0.0))))
            assert base[1] == pytest.approx(0.0, abs=1e-6)  # the toe joint stands on the floor (BVH Y up)
            assert tip[1] == pytest.approx(base[1], abs=1e-6), name  # level with the sole, not into the floor
            step = tip - base
            assert np.dot(step, forward) == pytest.approx(np.linalg.norm(step), abs=1e-6)  # along the foot
            assert 0.05 < np.linalg.norm(step) <= 0.1
