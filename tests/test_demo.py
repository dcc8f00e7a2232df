"""``phymo demo``: the shipped real clip, the synthetic walk that stays in view, truth.json's shape."""

import json

import numpy as np
import pytest

from phymo.app.commands import cli
from phymo.app.demo.run import DEMO_CLIP
from phymo.app.demo.synthetic import demo_scene
from phymo.app.evaluation.multiview import find_trial

FAST = ["--optimizer", "adam", "--steps", "2", "--window", "16", "--samples", "16", "--iterations", "2"]


def test_the_shipped_clip_carries_its_licence_and_source():
    trial = find_trial(DEMO_CLIP)
    assert list(trial.videos) == ["cam01"] and trial.markers.name.endswith("_filt_butterworth.trc")
    licence = (DEMO_CLIP / "LICENSE").read_text()
    assert "BSD 3-Clause License" in licence and "Copyright (c) 2022, perfanalytics" in licence
    source = (DEMO_CLIP / "SOURCE.md").read_text()
    for path in (trial.videos["cam01"], trial.calibration, trial.markers):
        rel = path.relative_to(DEMO_CLIP).as_posix()
        assert f"`{rel}` | {path.stat().st_size} |" in source  # each file listed with its size
    assert (DEMO_CLIP / "videos" / "cam01.mp4").stat().st_size == 387775


@pytest.mark.parametrize("duration", [3.0, 30.0])
def test_the_synthetic_walk_stays_in_the_picture(duration):
    """A walk of any length: every joint of every frame in front of the camera and inside the image."""
    motion, camera = demo_scene(duration)
    p = motion.positions()
    uv = camera.project(p)
    assert (camera.to_camera(p)[..., 2] > 1.0).all()
    assert (uv >= 0).all() and (uv[..., 0] < camera.width).all() and (uv[..., 1] < camera.height).all()
    heights = uv[:, :, 1].max(axis=1) - uv[:, :, 1].min(axis=1)
    assert heights.min() > 100  # px: still a person a detector would find


def test_duration_belongs_to_the_synthetic_walk(tmp_path, capsys):
    assert cli.main(["demo", "--duration", "5", "-o", str(tmp_path / "o")]) == 2
    assert "give it with --synthetic" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def _check_truth(out, reference: str) -> dict:
    truth = json.loads((out / "truth.json").read_text())
    assert set(truth) == {"reference", "kinematic", "physics"} and truth["reference"].startswith(reference)
    for kind in ("kinematic", "physics"):
        assert set(truth[kind]) == {"mpjpe", "pa_mpjpe", "mpjpe_g"}
        assert all(np.isfinite(v) and v >= 0 for v in truth[kind].values())
    return truth


def test_synthetic_demo_writes_truth(tmp_path, capsys):
    out = tmp_path / "demo"
    assert cli.main(["demo", "--synthetic", "--duration", "1", "-o", str(out), *FAST]) == 0
    truth = _check_truth(out, "the synthesized walk")
    assert truth["kinematic"]["pa_mpjpe"] < 60.0  # the synthetic input is easy: centimetres at most
    assert "truth.json (errors in mm):" in capsys.readouterr().out


@pytest.mark.slow
def test_real_clip_demo_writes_truth(tmp_path):
    out = tmp_path / "demo"
    assert cli.main(["demo", "-o", str(out)]) == 0
    truth = _check_truth(out, "triangulated markers")
    assert truth["kinematic"]["mpjpe"] < 200.0 and truth["physics"]["mpjpe"] < 250.0
