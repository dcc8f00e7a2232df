"""Retargeting BVH families to the canonical skeleton, checked against the source FK and bvhio."""

from pathlib import Path

import numpy as np
import pytest

from phymo.data import CANONICAL, FOOT_JOINTS, JOINT_MAPPINGS, DataFormatError, Motion, axis_angle_to_quat
from phymo.data.bvh import AXES_TO_BVH, bvh_joint_names, read_bvh, write_bvh
from phymo.data.retarget import (
    FAMILIES,
    bvh_to_motion,
    detect_family,
    load_bvh_motion,
    mapped_positions,
    mapping_table_markdown,
    retarget_error,
)

#: One clip per family folder, with the family it must be detected as and a bound on the mean error (m).
FAMILY_CLIPS = [
    ("cmu-mocap-bvh/cgspeed_mb/02_01_bvhtodeepmimic.bvh", "cmu", 0.010),
    ("cmu-mocap-bvh/cgspeed_max/131_03_bvh11.bvh", "cmu_max", 0.010),
    ("cmu-mocap-bvh/secondlife_scaled/60_10_scaled.bvh", "secondlife", 0.005),
    ("cmu-mocap-bvh/iclone_ccrig/002_03.bvh", "iclone_cc", 0.005),
    ("bandai-namco-motiondataset/dataset-1/dataset-1_walk_normal_002.bvh", "bandai_namco", 0.005),
    ("xia-style-bvh/depressed_18_000.bvh", "cmu", 0.015),
    ("sfu-mocap-bvh/0005_Walking001.bvh", "cmu", 0.005),
]


def _walk(t=40, fps=60.0, seed=0):
    rng = np.random.default_rng(seed)
    rot = axis_angle_to_quat(rng.normal(scale=0.25, size=(t, CANONICAL.num_joints, 3)))
    root = np.stack([np.linspace(0, 1.2, t), np.zeros(t), np.full(t, 0.9)], axis=1)
    return Motion(CANONICAL.scaled(1.05), fps, root, rot)


@pytest.mark.parametrize(("units", "up"), [("cm", "y"), ("m", "z")])
def test_own_bvh_retargets_back_to_the_same_positions(tmp_path, units, up):
    """Our writer's output (either unit, Y or Z up) retargets to the same skeleton and positions."""
    motion = _walk()
    clip = read_bvh(write_bvh(tmp_path / "w.bvh", motion, units=units, up=up))
    assert detect_family(clip.names).name == "cmu"
    back = bvh_to_motion(clip)
    assert back.num_frames == motion.num_frames and back.fps == pytest.approx(motion.fps)
    assert back.skeleton.names == CANONICAL.names
    np.testing.assert_allclose(back.skeleton.bone_lengths(), motion.skeleton.bone_lengths(), atol=1e-6)
    src, got = motion.positions(), back.positions()
    shift = src[:, 0] - got[:, 0]
    np.testing.assert_allclose(got + shift[:, None], src, atol=1e-5)
    np.testing.assert_allclose(shift[:, :2], 0.0, atol=1e-7)  # only the ground (z) moves
    feet = got[:, [CANONICAL.index(f) for f in FOOT_JOINTS], 2]
    assert feet.min() == pytest.approx(0.0, abs=1e-9)


def test_unknown_skeleton_is_a_data_format_error(tmp_path):
    p = tmp_path / "odd.bvh"
    p.write_text("HIERARCHY\nROOT Thing\n{\nOFFSET 0 0 0\nCHANNELS 3 Xposition Yposition Zposition\n"
                 "End Site\n{\nOFFSET 0 1 0\n}\n}\nMOTION\nFrames: 1\nFrame Time: 0.1\n0 0 0\n")
    with pytest.raises(DataFormatError, match="odd.bvh.*unknown BVH skeleton"):
        load_bvh_motion(p)


def test_mapping_table_lists_every_mapping_and_family():
    text = mapping_table_markdown()
    for name in [*JOINT_MAPPINGS, *(f.name for f in FAMILIES)]:
        assert name in text
    assert "| left_elbow | 12 `LElbow` |" in text
    assert len([ln for ln in text.splitlines() if ln.startswith("| pelvis")]) == 2


@pytest.mark.parametrize(("rel", "family", "bound"), FAMILY_CLIPS)
def test_family_retarget_reproduces_source_positions(rel, family, bound, shared_data):
    clip = read_bvh(shared_data(rel))
    fam = detect_family(clip.names)
    assert fam.name == family
    targets = mapped_positions(clip, fam)
    motion = bvh_to_motion(clip)
    assert motion.num_frames == clip.num_frames and motion.fps == pytest.approx(clip.fps)
    assert retarget_error(motion, targets) < bound
    assert np.all(motion.skeleton.bone_lengths()[1:] > 0)
    pos = motion.positions()
    assert pos[..., 2].min() == pytest.approx(0.0, abs=1e-9)
    assert pos[:, CANONICAL.index("head"), 2].mean() > pos[:, CANONICAL.index("pelvis"), 2].mean() + 0.3
    assert 1.0 < motion.skeleton.height() < 2.1


def test_cmu_clip_written_bvh_matches_bvhio(tmp_path, shared_data):
    """Must-show: CMU clip -> retarget -> write -> bvhio agrees with our FK within 1 mm."""
    bvhio = pytest.importorskip("bvhio")
    motion = load_bvh_motion(shared_data("cmu-mocap-bvh", "cgspeed_mb", "02_01_bvhtodeepmimic.bvh"))
    out = write_bvh(tmp_path / "cmu.bvh", motion)
    container = bvhio.readAsBvh(str(out))
    root = bvhio.readAsHierarchy(str(out))
    joints = [j for j, _, _ in root.layout()]
    assert len(joints) == CANONICAL.num_joints
    assert container.FrameCount == motion.num_frames
    assert container.FrameTime == pytest.approx(1.0 / motion.fps, rel=1e-12)
    ours = read_bvh(out)
    assert ours.num_frames == motion.num_frames and ours.frame_time == 1.0 / motion.fps
    expected = motion.positions() @ AXES_TO_BVH["y"].T  # (T, J, 3) in BVH axes, metres
    order = [ours.index(j.Name) for j in joints]
    canon = [CANONICAL.names.index(n) for n in _canonical_names(ours.names)]
    for t in range(0, motion.num_frames, 17):
        root.loadPose(t)
        theirs = np.array([list(j.PositionWorld) for j in joints])
        np.testing.assert_allclose(theirs, expected[t, [canon[b] for b in order]], atol=1e-3)
    # Our own reader agrees too (all frames).
    np.testing.assert_allclose(ours.world_positions(), expected[:, canon], atol=1e-6)


def _canonical_names(bvh_names):
    table = dict(zip(bvh_joint_names(CANONICAL.names), CANONICAL.names, strict=True))
    return [table[n] for n in bvh_names]


def test_retarget_command(tmp_path, capsys):
    from phymo.app.commands.cli import main

    src = write_bvh(tmp_path / "in.bvh", _walk(t=5), units="cm", order="XYZ")
    out = tmp_path / "sub" / "out.bvh"
    assert main(["retarget", str(src), "-o", str(out), "--units", "cm", "--up", "z", "--order", "yzx"]) == 0
    printed = capsys.readouterr().out
    assert "frames: 5" in printed and "fps: 60" in printed and "joints: 22" in printed
    clip = read_bvh(out)
    assert clip.num_frames == 5 and clip.channels[1] == ("Yrotation", "Zrotation", "Xrotation")
    assert main(["retarget", str(tmp_path / "none.bvh"), "-o", str(out)]) == 2
    assert "none.bvh: no such file" in capsys.readouterr().err


def test_joint_mappings_doc_is_current():
    doc = Path(__file__).resolve().parents[1] / "docs" / "joint_mappings.md"
    text = doc.read_text()
    generated = text.split("<!-- generated:start -->\n", 1)[1].split("<!-- generated:end -->", 1)[0]
    assert generated == mapping_table_markdown()


def test_limb_twist_follows_the_bend_plane(tmp_path):
    """Knees, ankles and elbows bent about their hinge axes come back as the same local rotations,
    including the hip and shoulder twist that positions alone (swing) would lose."""
    rng = np.random.default_rng(3)
    t = 30
    rot = axis_angle_to_quat(rng.normal(scale=0.3, size=(t, CANONICAL.num_joints, 3)))
    hinge = {"left_knee": (1, 0.2, 1.4), "right_knee": (1, 0.2, 1.4), "left_ankle": (1, -0.3, 0.3),
             "right_ankle": (1, -0.3, 0.3), "left_elbow": (2, -1.5, -0.2), "right_elbow": (2, 0.2, 1.5)}
    for name, (axis, lo, hi) in hinge.items():
        rot[:, CANONICAL.index(name)] = axis_angle_to_quat(rng.uniform(lo, hi, (t, 1)) * np.eye(3)[axis])
    motion = Motion(CANONICAL, 30.0, np.tile([0.0, 0.0, 1.0], (t, 1)), rot)
    back = load_bvh_motion(write_bvh(tmp_path / "h.bvh", motion))
    # Hinges: same local rotation. Hips and shoulders: same world rotation (the collar's own
    # twist is not observable from positions, so the shoulder's local rotation may differ).
    world_src, world_back = motion.global_rotations(), back.global_rotations()
    for name in [*hinge, "left_hip", "right_hip", "left_shoulder", "right_shoulder"]:
        j = CANONICAL.index(name)
        a, b = (back.rotations, motion.rotations) if name in hinge else (world_back, world_src)
        dots = np.abs(np.sum(a[:, j] * b[:, j], axis=-1))
        np.testing.assert_allclose(dots, 1.0, atol=1e-6, err_msg=name)
