"""End-to-end checks of ``phymo reconstruct`` / ``phymo demo`` and their bad-input matrix."""

import importlib
import json
import os
import stat
from pathlib import Path

import bvhio
import cv2
import numpy as np
import pytest

from phymo.app import cli
from phymo.app.demo_synthetic import write_demo_input

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
FAST = ["--optimizer", "adam", "--iterations", "2", "--window", "16"]


@pytest.fixture(scope="module")
def demo_input(tmp_path_factory):
    return write_demo_input(tmp_path_factory.mktemp("demo_input"), duration_s=1.0)


@pytest.fixture(scope="module")
def finished_run(demo_input, tmp_path_factory):
    video, keypoints = demo_input
    out = tmp_path_factory.mktemp("run")
    assert cli.main(["reconstruct", str(video), "--keypoints", str(keypoints), "-o", str(out), *FAST]) == 0
    return out


def _error(capsys) -> str:
    """The error line (the last line of stderr; progress bars come before it)."""
    return capsys.readouterr().err.strip().splitlines()[-1]


def test_every_output_is_written_and_consistent(finished_run):
    out = finished_run
    for name in ("motion.bvh", "motion.npz", "motion.json", "kinematic.bvh", "kinematic.npz", "overlay.mp4",
                 "loss.png", "plausibility.png", "report.json", "config.json"):
        assert (out / name).is_file(), name
    report = json.loads((out / "report.json").read_text())
    with np.load(out / "motion.npz", allow_pickle=False) as z:
        t = len(z["frame_index"])
        assert z["positions"].shape == (t, 22, 3) and z["contacts"].shape == (t, 4) and z["qpos"].shape[0] == t
        assert float(z["fps"]) == 30.0
        torques, names = z["torques"], list(z["actuator_names"])
        assert torques.shape == (t, len(names)) and names[-6:] == [f"residual_{k}" for k in range(6)]
        assert np.isfinite(torques).all() and np.abs(torques).max() > 1.0  # N m: the body is actuated
        assert np.allclose(z["residual_force"], np.linalg.norm(torques[:, -6:-3], axis=1))
    json.loads((out / "motion.json").read_text(), parse_constant=lambda c: pytest.fail(f"non-JSON {c}"))
    assert report["input"]["frames"] == t == 30
    assert all(w["iterations"] == 2 and not w["fallback"] for w in report["windows"])  # loss.png has every trace
    assert report["plausibility"]["physics"]["residual_force_n"] > 0
    # an independent parser reads the BVH with the right frame count and frame time
    bvh = bvhio.readAsBvh(str(out / "motion.bvh"))
    assert len(bvh.Frames) == t if hasattr(bvh, "Frames") else bvh.FrameCount == t
    assert abs(bvh.FrameTime - 1 / 30) < 1e-9
    cap = cv2.VideoCapture(str(out / "overlay.mp4"))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == t
    assert set(report["timings_s"]) >= {"keypoints", "kinematic", "physics", "export", "total"}
    guesses = report["input"]["guesses"]  # neither --height nor --focal: both guessed, and said so
    assert guesses["height_source"].startswith("assumed") and guesses["focal_source"].startswith("assumed")
    assert [w.split()[1] for w in guesses["weak"]] == ["person's", "focal"]
    assert "--height" in guesses["weak"][0] and "--focal PX or --calibration FILE" in guesses["weak"][1]


def test_demo_input_carries_detector_world_landmarks(demo_input):
    """Like MediaPipe's: metres, hip-centred, camera axes, a few centimetres off the truth (a noisy pose)."""
    from phymo.app.demo_synthetic import demo_scene
    from phymo.data.synthetic import world_landmarks
    from phymo.pose import load_keypoints

    _, conf, world = load_keypoints(demo_input[1]).to_canonical()
    truth, camera = demo_scene(1.0)
    err = np.linalg.norm(world - world_landmarks(truth, camera), axis=-1)[conf > 0]
    assert 0.002 < np.median(err) < 0.05


def test_resume_recomputes_nothing_finished(finished_run, demo_input, capsys):
    video, keypoints = demo_input
    report = json.loads((finished_run / "report.json").read_text())
    assert not any(w["cached"] for w in report["windows"])
    assert cli.main(["reconstruct", str(video), "--keypoints", str(keypoints), "-o", str(finished_run),
                     "--resume", *FAST]) == 0
    again = json.loads((finished_run / "report.json").read_text())
    assert all(w["cached"] for w in again["windows"]) and len(again["windows"]) == len(report["windows"])


def test_interrupted_run_keeps_finished_windows(demo_input, tmp_path, monkeypatch, capsys):
    physics_reconstruct = importlib.import_module("phymo.physics.reconstruct")  # the module, not the function
    video, keypoints = demo_input
    real = physics_reconstruct.reconstruct_window
    calls = {"n": 0}

    def interrupt_second_window(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(physics_reconstruct, "reconstruct_window", interrupt_second_window)
    args = ["reconstruct", str(video), "--keypoints", str(keypoints), "-o", str(tmp_path), *FAST]
    assert cli.main(args) == 130
    assert "interrupted" in _error(capsys)
    assert len(list((tmp_path / "cache" / "physics").rglob("window_*.npz"))) == 1
    monkeypatch.setattr(physics_reconstruct, "reconstruct_window", real)
    assert cli.main([*args, "--resume"]) == 0
    windows = json.loads((tmp_path / "report.json").read_text())["windows"]
    assert windows[0]["cached"] and not windows[1]["cached"]


def test_missing_file(tmp_path, capsys):
    assert cli.main(["reconstruct", str(tmp_path / "nope.mp4"), "-o", str(tmp_path / "o")]) == 2
    assert _error(capsys) == f"phymo reconstruct: error: {tmp_path / 'nope.mp4'}: no such file"


def test_not_a_video(tmp_path, capsys):
    bad = tmp_path / "notes.mp4"
    bad.write_text("this is not a video")
    assert cli.main(["reconstruct", str(bad), "-o", str(tmp_path / "o")]) == 2
    err = _error(capsys)
    assert err.startswith("phymo reconstruct: error:") and "notes.mp4" in err


def _write_video(path, frames, size=(160, 120)):
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 25.0, size)
    for _ in range(frames):
        w.write(np.full((size[1], size[0], 3), 90, np.uint8))
    w.release()
    return path


def test_zero_length_video(tmp_path, capsys):
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    assert cli.main(["reconstruct", str(empty), "-o", str(tmp_path / "o")]) == 2
    assert "empty.mp4" in _error(capsys)


def test_no_person(tmp_path, capsys):
    video = _write_video(tmp_path / "blank.mp4", 5)
    assert cli.main(["reconstruct", str(video), "-o", str(tmp_path / "o")]) == 2
    assert _error(capsys) == f"phymo reconstruct: error: no person detected in {video} (5 frames examined)"


def test_several_people_keeps_the_main_subject(tmp_path):
    clip = DATA / "mmpose" / "demo_multiperson_street_5frames.mp4"
    if not clip.is_file():
        pytest.skip("shared data clip not present")
    assert cli.main(["reconstruct", str(clip), "-o", str(tmp_path), "--no-overlay", *FAST]) == 0
    with np.load(tmp_path / "motion.npz", allow_pickle=False) as z:
        assert z["positions"].shape == (5, 22, 3) and np.isfinite(z["positions"]).all()


def test_unknown_optimizer(demo_input, tmp_path, capsys):
    video, keypoints = demo_input
    assert cli.main(["reconstruct", str(video), "--keypoints", str(keypoints), "--optimizer", "sgd-with-wings",
                     "-o", str(tmp_path / "o")]) == 2
    assert "unknown optimizer 'sgd-with-wings'; choose one of" in _error(capsys)
    assert not (tmp_path / "o").exists()  # failed before any work


@pytest.mark.parametrize("duration", ["-1", "0", "0.05"])
def test_demo_too_short(duration, tmp_path, capsys):
    assert cli.main(["demo", "--synthetic", "--duration", duration, "-o", str(tmp_path / "o")]) == 2
    assert "--duration must give at least 3 frames at 30 fps (>= 0.1 s)" in _error(capsys)
    assert not (tmp_path / "o").exists()  # failed before any work


def test_start_after_end(demo_input, tmp_path, capsys):
    video, _ = demo_input
    assert cli.main(["reconstruct", str(video), "--start", "50", "-o", str(tmp_path / "o")]) == 2
    assert "--start 50.0 s is after the end" in _error(capsys)


def test_negative_height(demo_input, tmp_path, capsys):
    video, keypoints = demo_input
    assert cli.main(["reconstruct", str(video), "--keypoints", str(keypoints), "--height", "-1.7",
                     "-o", str(tmp_path / "o")]) == 2
    assert "--height must be a person's height in metres" in _error(capsys)


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_unwritable_output_folder_as_user(demo_input, tmp_path, capsys):
    video, keypoints = demo_input
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(stat.S_IRUSR | stat.S_IXUSR)
    assert cli.main(["reconstruct", str(video), "--keypoints", str(keypoints), "-o", str(locked / "o")]) == 2
    assert "cannot write to the output folder" in _error(capsys)


def test_output_path_that_is_a_file(demo_input, tmp_path, capsys):
    video, keypoints = demo_input
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    assert cli.main(["reconstruct", str(video), "--keypoints", str(keypoints), "-o", str(blocker / "o")]) == 2
    assert "cannot write to the output folder" in _error(capsys)


def test_smpl_parameters_exported_with_users_model_files(demo_input, tmp_path):
    from _smpl_model import write_model

    write_model(tmp_path / "smpl")
    video, keypoints = demo_input
    out = tmp_path / "o"
    assert cli.main(["reconstruct", str(video), "--keypoints", str(keypoints), "-o", str(out), "--no-overlay",
                     "--smpl-model", str(tmp_path / "smpl"), *FAST]) == 0
    with np.load(out / "motion.npz", allow_pickle=False) as z:
        t = len(z["frame_index"])
        assert z["smpl_body_pose"].shape == (t, 69) and z["smpl_betas"].shape == (10,)
        # the fitted SMPL joints sit on the reconstructed body (tiny test model: proportions differ a little)
        assert np.linalg.norm(z["smpl_joints"][:, 0] - z["positions"][:, 0], axis=-1).mean() < 0.05
    assert not (out / "overlay.mp4").exists()


def _report(fallbacks: int, windows: int, weak=()) -> dict:
    zero = {"foot_skating": 0.0, "penetration_mm": 0.0}
    return {"input": {"frames": 90, "fps": 30.0, "guesses": {"weak": list(weak)}}, "timings_s": {"total": 1.0},
            "realtime_factor": 1.0, "plausibility": {"physics": zero, "kinematic": zero},
            "fallback_windows": fallbacks,
            "windows": [{"fallback": "x" if i < fallbacks else ""} for i in range(windows)]}


def test_a_run_that_mostly_fell_back_says_so(tmp_path, capsys):
    from phymo.app.cmd_reconstruct import print_summary

    print_summary(_report(61, 75, ["the person's height is assumed"]), tmp_path)
    out = capsys.readouterr().out
    assert "WARNING: 61 of 75 physics windows fell back to the kinematic estimate" in out
    assert "note: the person's height is assumed" in out
    print_summary(_report(37, 75), tmp_path)
    assert "fell back" not in capsys.readouterr().out
