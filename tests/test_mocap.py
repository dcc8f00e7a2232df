"""Mocap corpus: recursive discovery, deterministic file splits, loading through retargeting."""

import numpy as np
import pytest

from phymo.data import CANONICAL, InputNotFoundError, Motion, axis_angle_to_quat
from phymo.data.bvh import write_bvh
from phymo.data.mocap import DEFAULT_FRACTIONS, SPLITS, MocapCorpus, split_of


def _motion(seed: int, t: int = 6) -> Motion:
    rng = np.random.default_rng(seed)
    rot = axis_angle_to_quat(rng.normal(scale=0.2, size=(t, CANONICAL.num_joints, 3)))
    return Motion(CANONICAL, 30.0, np.tile([0.0, 0.0, 0.95], (t, 1)), rot)


@pytest.fixture
def corpus_dir(tmp_path):
    for i in range(40):
        sub = tmp_path / f"subject{i % 3}" / ("deep" if i % 2 else "")
        sub.mkdir(parents=True, exist_ok=True)
        write_bvh(sub / f"clip{i:02d}.{'BVH' if i == 7 else 'bvh'}", _motion(i))
    (tmp_path / "notes.txt").write_text("not a clip")
    return tmp_path


def test_splits_partition_files_deterministically(corpus_dir):
    corpus = MocapCorpus(corpus_dir)
    files = corpus.files()
    assert len(files) == 40
    parts = {s: corpus.split(s) for s in SPLITS}
    assert sorted(p for s in SPLITS for p in parts[s]) == sorted(files)
    assert all(parts[s] for s in SPLITS)
    # Same relative names elsewhere give the same split (location independent).
    rel = {s: [p.relative_to(corpus_dir).as_posix() for p in parts[s]] for s in SPLITS}
    for s in SPLITS:
        assert all(split_of(r) == s for r in rel[s])


def test_split_of_matches_documented_fractions():
    names = [f"s{i}/clip{i}.bvh" for i in range(20000)]
    counts = {s: sum(split_of(n) == s for n in names) / len(names) for s in SPLITS}
    for s, frac in zip(SPLITS, DEFAULT_FRACTIONS, strict=True):
        assert counts[s] == pytest.approx(frac, abs=0.01)
    assert split_of("a/b.bvh", (0.0, 0.0, 1.0)) == "test"
    assert split_of("a/b.bvh", (1.0, 0.0, 0.0)) == "train"


def test_load_retargets_a_clip(corpus_dir):
    corpus = MocapCorpus(corpus_dir)
    path = corpus.split("test")[0]
    motion = corpus.load(path)
    assert motion.skeleton.names == CANONICAL.names and motion.num_frames == 6 and motion.fps == pytest.approx(30.0)
    rel = corpus.load(path.relative_to(corpus_dir))
    np.testing.assert_allclose(rel.rotations, motion.rotations)


def test_bad_arguments(tmp_path):
    with pytest.raises(InputNotFoundError, match="missing"):
        MocapCorpus(tmp_path / "missing")
    with pytest.raises(ValueError, match="fractions"):
        MocapCorpus(tmp_path, fractions=(0.5, 0.5, 0.5))
    with pytest.raises(ValueError, match="unknown split"):
        MocapCorpus(tmp_path).split("dev")
