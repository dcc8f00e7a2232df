"""Multi-view trials: finding the calibration, markers and videos; the evaluation on the Pose2Sim trial shipped
for the demo."""

import json
from pathlib import Path

import pytest

from phymo.app.commands import cli
from phymo.app.evaluation.multiview import find_trial
from phymo.data import DataFormatError, InputNotFoundError

_CAMERA = ('[{key}]\nname = "{name}"\nsize = [ 640, 480]\nmatrix = [ [ 500.0, 0.0, 320.0], [ 0.0, 500.0, 240.0], '
           '[ 0.0, 0.0, 1.0]]\nrotation = [ 0.0, 0.0, 0.0]\ntranslation = [ 0.0, 0.0, 3.0]\n\n')


def _trial(root: Path, videos=("cam_01.mp4", "CAM02.avi", "notes.mp4"), trcs=("a.trc", "a_filt_butterworth.trc")):
    (root / "calibration").mkdir(parents=True)
    (root / "calibration" / "Calib_scene.toml").write_text(
        _CAMERA.format(key="cam_01", name="cam01") + _CAMERA.format(key="cam_02", name="cam02")
        + _CAMERA.format(key="cam_03", name="cam03"))
    (root / "Config.toml").write_text("[project]\n")  # a Pose2Sim project file: not a calibration
    (root / "videos").mkdir()
    for v in videos:
        (root / "videos" / v).write_bytes(b"")
    (root / "pose-3d").mkdir()
    for t in trcs:
        (root / "pose-3d" / t).write_text("")
    return root


def test_finds_calibration_filtered_markers_and_videos_by_camera_name(tmp_path):
    trial = find_trial(_trial(tmp_path))
    assert trial.calibration.name == "Calib_scene.toml" and trial.markers.name == "a_filt_butterworth.trc"
    assert {k: v.name for k, v in trial.videos.items()} == {"cam01": "cam_01.mp4", "cam02": "CAM02.avi"}
    assert find_trial(tmp_path, tmp_path / "pose-3d" / "a.trc").markers.name == "a.trc"


@pytest.mark.parametrize("kind, error, match", [
    ("no folder", InputNotFoundError, "no such folder"),
    ("two unfiltered", DataFormatError, "several marker files .* name one with --reference FILE"),
    ("no trc", DataFormatError, "no marker files"),
    ("no video", DataFormatError, r"no video named after a camera of Calib_scene.toml \(cam01, cam02, cam03\)"),
    ("missing reference", InputNotFoundError, "--reference names the markers"),
])
def test_a_trial_that_cannot_work_says_why(tmp_path, kind, error, match):
    reference = None
    if kind == "two unfiltered":
        _trial(tmp_path, trcs=("a.trc", "b.trc"))
    elif kind == "no trc":
        _trial(tmp_path, trcs=())
    elif kind == "no video":
        _trial(tmp_path, videos=("side.mp4",))
    elif kind == "missing reference":
        _trial(tmp_path)
        reference = tmp_path / "nope.trc"
    with pytest.raises(error, match=match):
        find_trial(tmp_path if kind != "no folder" else tmp_path / "nope", reference)


def test_evaluate_the_shipped_trial_end_to_end(multiview_demo):
    """The first 30 frames of cam01 through the whole pipeline, scored against the markers."""
    out = multiview_demo
    printed = (out / "summary.md").read_text()
    assert "| cam01 |" in printed and "| camera | height m (source) |" in printed
    summary = json.loads((out / "summary.json").read_text())
    (record,) = summary["sequences"]
    assert record["id"] == "cam01" and record["num_frames"] == 30 and "ground_truth" not in summary
    for kind in ("kinematic", "physics"):
        # a person reconstructed from one phone view: centimetres off, not metres
        assert 20.0 < record[kind]["mpjpe"] < 250.0 and record[kind]["pa_mpjpe"] < record[kind]["mpjpe"] + 1e-9
    assert record["info"]["focal_px"] == record["info"]["focal_calibration_px"]  # --use-calibration
    assert abs(record["info"]["height_markers_m"] - 1.68) < 0.01
    # the run's floor is the lab's, roughly (11 degrees off over these 30 frames, 3.6 over the whole clip;
    # the ground estimate itself is tested in test_pose_ground.py)
    assert 0.0 <= record["info"]["ground_tilt_deg"] < 20.0
    assert (out / "runs" / "cam01" / "overlay.mp4").is_file() and (out / "runs" / "cam01" / "report.json").is_file()


def test_multiview_options_are_refused_elsewhere(tmp_path, capsys):
    assert cli.main(["evaluate", "--dataset", "mocap", "--root", str(tmp_path), "-o", str(tmp_path / "out"),
                     "--use-calibration"]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err == "phymo evaluate: error: --use-calibration applies to dataset multiview only"
