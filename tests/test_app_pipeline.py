"""End-to-end checks of ``phymo reconstruct`` / ``phymo demo`` and their bad-input matrix."""

import json
import os
import shutil
import stat
import time
from pathlib import Path

import bvhio
import cv2
import numpy as np
import pytest

from phymo.app.commands import cli
from phymo.app.demo.synthetic import write_demo_input
from phymo.data import read_bvh

#: a cheap planner and refinement: these tests are about the pipeline, not the quality of its physics
FAST = ["--optimizer", "adam", "--steps", "2", "--window", "16", "--samples", "16", "--iterations", "2"]


#: the demo video's background, repainted in a colour whose red and blue differ (RGB)
BACKGROUND = (40, 90, 200)


@pytest.fixture(scope="module")
def demo_input(tmp_path_factory):
    """The demo's 1 s walk: a video whose background is BACKGROUND (grey capsules on it), and keypoints."""
    folder = tmp_path_factory.mktemp("demo_input")
    grey, keypoints = write_demo_input(folder, duration_s=1.0)
    video = folder / "colour.mp4"
    cap = cv2.VideoCapture(str(grey))
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"mp4v"), 30.0, (960, 540))
    while (frame := cap.read()[1]) is not None:
        background = frame.max(axis=-1) < 60
        frame[background] = BACKGROUND[::-1]  # OpenCV writes BGR
        writer.write(frame)
    writer.release()
    return video, keypoints


def _detected(keypoints: Path):
    """What a detector would hand over: the demo keypoints in float64 with digits float32 cannot hold."""
    from phymo.pose import load_keypoints

    kp = load_keypoints(keypoints)
    kp.points = kp.points + 0.123456789
    kp.meta = {**kp.meta, "people": None}
    return kp


@pytest.fixture(scope="module")
def finished_run(demo_input, tmp_path_factory):
    """A finished run of the video through the detection path (the detector stubbed by ``_detected``)."""
    video, keypoints = demo_input
    out = tmp_path_factory.mktemp("run")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("phymo.pose.detect_video", lambda *a, **k: _detected(keypoints))
        assert cli.main(["reconstruct", str(video), "-o", str(out), *FAST]) == 0
    return out


def _forbid_work(monkeypatch):
    """Make every stage's computation fail, so that a run can only finish from its cache."""
    import phymo.pose
    from phymo.physics import sequence

    def fail(*args, **kwargs):
        raise AssertionError("recomputed")

    for target, name in ((phymo.pose, "detect_video"), (phymo.pose, "initialize"), (sequence, "solve_window")):
        monkeypatch.setattr(target, name, fail)


def _error(capsys) -> str:
    """The error line (the last line of stderr; progress bars come before it)."""
    return capsys.readouterr().err.strip().splitlines()[-1]


def test_report_and_evaluation_measure_foot_skating_alike(finished_run):
    """report.json's plausibility and phymo evaluate's are one definition: the same motion gives the same
    figures (they used to count contact with different heights under one name)."""
    from phymo.app.evaluation import plausibility

    report = json.loads((finished_run / "report.json").read_text())
    for stem, kind in (("motion", "physics"), ("kinematic", "kinematic")):
        with np.load(finished_run / f"{stem}.npz", allow_pickle=False) as z:
            evaluated = plausibility(z["positions"], float(z["fps"]))
        assert evaluated["foot_skating"] == report["plausibility"][kind]["foot_skating"]
        assert evaluated["penetration_mm"] == report["plausibility"][kind]["penetration_mm"]


#: how far 0.01 px of keypoint noise may move the demo's plausibility figures (absolute: skating as a share of
#: frames, floating and penetration in mm, residual in N, 100 N being 15 % of the body weight) and its joints
#: (mean, m): bounds on gross chaos (a run that falls, floats or lies down where the other does not)
STABLE_WITHIN = {"foot_skating": 0.25, "floating_mm": 10.0, "penetration_mm": 2.0, "residual_force_n": 100.0}
JOINTS_WITHIN_M = 0.2


def test_a_hundredth_of_a_pixel_moves_the_result_by_little(demo_input, tmp_path):
    """Issue 19: the result was chaotic in its input (keypoints reloaded as float32, 1.5e-5 px of rounding, moved
    a clip's skating from 32.6 % to 43.5 %; 0.01 px moved a figure by 15-93 % on four of six clips). With the
    default settings it still is: the sampling planner's elite set and the ladder's re-solves change with the
    input's last digits (measured here: skating 0.55 -> 0.38, or a window assisted with 60 N where the other run
    needed none, the joints then 139 mm apart on average), far from the issue's 10 % (not met: docs/results.md,
    "The body stands on its own"). This guards against gross chaos only (:data:`STABLE_WITHIN`)."""
    from phymo.app.benchmarks.plausibility import _perturbed_keypoints, _positions

    video, keypoints = demo_input
    (tmp_path / "given").mkdir()
    shutil.copy(keypoints, tmp_path / "given" / "keypoints-demo.npz")
    moved = _perturbed_keypoints(tmp_path / "given", tmp_path / "moved.npz")
    for name, points in (("a", keypoints), ("b", moved)):
        assert cli.main(["reconstruct", str(video), "--keypoints", str(points), "-o", str(tmp_path / name),
                         "--no-overlay"]) == 0
    before, after = (json.loads((tmp_path / n / "report.json").read_text())["plausibility"]["physics"] for n in "ab")
    shift = np.linalg.norm(_positions(tmp_path / "a") - _positions(tmp_path / "b"), axis=-1).mean()
    for k, bound in STABLE_WITHIN.items():
        assert abs(before[k] - after[k]) <= bound, (k, before[k], after[k])
    assert 0 < shift < JOINTS_WITHIN_M


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
    assert all(w["steps"] == 2 and w["evaluations"] == 2 and w["status"] in ("optimized", "re-solved")
               for w in report["windows"])
    assert report["plausibility"]["physics"]["residual_force_n"] == 0.0  # no window needed the residual
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
    from phymo.app.demo.synthetic import demo_scene
    from phymo.data import world_landmarks
    from phymo.pose import load_keypoints

    _, conf, world = load_keypoints(demo_input[1]).to_canonical()
    truth, camera = demo_scene(1.0)
    err = np.linalg.norm(world - world_landmarks(truth, camera), axis=-1)[conf > 0]
    assert 0.002 < np.median(err) < 0.05


OUTPUTS = ("motion.bvh", "motion.npz", "motion.json", "kinematic.bvh", "kinematic.npz", "kinematic.json", "loss.png",
           "plausibility.png", "overlay.mp4")


def test_resume_after_a_finished_run_recomputes_nothing(finished_run, demo_input, tmp_path, monkeypatch, capsys):
    """Issue 21: the keypoint cache holds float32, and the kinematic key hashed the detector's float64, so
    --resume refitted, re-simulated every window and changed the result. Now every stage is reused and the
    outputs are equal byte for byte."""
    video, _ = demo_input
    out = tmp_path / "out"
    shutil.copytree(finished_run, out)
    first = {n: (out / n).read_bytes() for n in OUTPUTS}
    assert not any(w["cached"] for w in json.loads((out / "report.json").read_text())["windows"])
    _forbid_work(monkeypatch)
    time.sleep(2.1)  # zip members carry a time stamp to 2 s: equal bytes must not come from writing in the same 2 s
    assert cli.main(["reconstruct", str(video), "-o", str(out), "--resume", *FAST]) == 0
    printed = capsys.readouterr().out
    assert all(w["cached"] for w in json.loads((out / "report.json").read_text())["windows"])
    assert {n: (out / n).read_bytes() for n in OUTPUTS} == first
    # item 5: the time is a cost, not a speed-up
    assert "s of computing per second of video" in printed and "real-time factor" not in printed


def test_interrupted_run_keeps_finished_windows(finished_run, demo_input, tmp_path, monkeypatch, capsys):
    from phymo.physics import sequence

    video, keypoints = demo_input
    real = sequence.solve_window
    calls = {"n": 0}

    def interrupt_second_window(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr("phymo.pose.detect_video", lambda *a, **k: _detected(keypoints))
    monkeypatch.setattr(sequence, "solve_window", interrupt_second_window)
    args = ["reconstruct", str(video), "-o", str(tmp_path), "--no-overlay", *FAST]
    assert cli.main(args) == 130
    assert "interrupted" in _error(capsys)
    assert len(list((tmp_path / "cache" / "physics").rglob("window_*.npz"))) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache"]  # no output of an unfinished run
    _forbid_work(monkeypatch)  # keypoints and the fit come from the cache; only the unfinished windows run
    monkeypatch.setattr(sequence, "solve_window", real)
    assert cli.main([*args, "--resume"]) == 0
    windows = json.loads((tmp_path / "report.json").read_text())["windows"]
    assert windows[0]["cached"] and not any(w["cached"] for w in windows[1:])
    # resumed, the result is the one an uninterrupted run gives
    assert (tmp_path / "motion.npz").read_bytes() == (finished_run / "motion.npz").read_bytes()


def test_a_failed_stage_leaves_only_its_finished_work_and_says_how_to_continue(finished_run, demo_input, tmp_path,
                                                                                monkeypatch, capsys):
    """Issue 21 item 6: after 'stage keypoints done' an error left cache/ and config.json (and an export error
    half the outputs). Now OUT holds the cache of finished stages and nothing else; the error names the
    stage, and --resume continues from it."""
    import phymo.pose
    from phymo.data import PhymoError

    video, _ = demo_input
    out = tmp_path / "out"
    (out / "cache").mkdir(parents=True)
    for p in (finished_run / "cache").glob("keypoints-*.npz"):
        shutil.copy(p, out / "cache")

    def fit_fails(*args, **kwargs):
        raise PhymoError("the fit found no ground")

    monkeypatch.setattr(phymo.pose, "initialize", fit_fails)
    argv = ["reconstruct", str(video), "-o", str(out), "--no-overlay", "--resume", *FAST]
    assert cli.main(argv) == 2
    err = _error(capsys)
    assert err.startswith("phymo reconstruct: error: stage kinematic failed: the fit found no ground; the finished "
                          "work (stages done: keypoints) is kept in")
    assert err.endswith("rerun with --resume to continue from the kinematic stage")
    assert sorted(p.name for p in out.iterdir()) == ["cache"]
    # an export that fails half way (SMPL model files missing) leaves no output either
    shutil.rmtree(out)
    shutil.copytree(finished_run / "cache", out / "cache")
    _forbid_work(monkeypatch)
    assert cli.main([*argv, "--smpl-model", str(tmp_path / "no-smpl-here")]) == 2
    assert "stage export failed:" in _error(capsys) and sorted(p.name for p in out.iterdir()) == ["cache"]
    assert cli.main(argv) == 0  # the cause removed, --resume finishes from the cache alone
    assert all((out / n).is_file() for n in OUTPUTS if n != "overlay.mp4")


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
    assert _error(capsys) == ("phymo reconstruct: error: stage keypoints failed: no person detected in "
                              f"{video} (5 frames examined)")  # nothing finished: no word of --resume
    assert not (tmp_path / "o").exists()  # and no half output folder


def test_several_people_keeps_the_main_subject(tmp_path, shared_data):
    clip = shared_data("mmpose", "demo_multiperson_street_5frames.mp4")
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


#: every numeric option of reconstruct, a value past its bound, and what the message says of the range
OUT_OF_RANGE = [("--height", "-1.7", ">= 0.5 and <= 2.5"), ("--height", "3", ">= 0.5 and <= 2.5"),
                ("--focal", "0", "> 0.0"), ("--start", "-1", ">= 0.0"), ("--steps", "-1", ">= 0"),
                ("--lr", "0", "> 0.0"), ("--step-scale", "-0.001", "> 0.0"), ("--window", "1", ">= 2"),
                ("--overlap", "-1", ">= 0"), ("--overlap", "15", "<= 14 (less than window (15))"),
                ("--max-deviation", "0", "> 0.0"), ("--max-timestep", "0.02", "<= 0.01"), ("--threads", "0", ">= 1"),
                ("--samples", "1", ">= 2"), ("--iterations", "0", ">= 1"), ("--horizon", "0", "> 0.0"),
                ("--frequency", "0", "> 0.0")]


@pytest.mark.parametrize("option, value, bound", OUT_OF_RANGE)
def test_every_numeric_option_is_checked_before_any_work(option, value, bound, demo_input, tmp_path, capsys):
    """Issue 21 item 11: a setting that cannot work ends in one line naming the option and its valid range,
    before anything runs or is written (phymo demo --window 3 used to fail deep inside physics)."""
    video, keypoints = demo_input
    assert cli.main(["reconstruct", str(video), "--keypoints", str(keypoints), option, value,
                     "-o", str(tmp_path / "o")]) == 2
    err = _error(capsys)
    assert err.startswith(f"phymo reconstruct: error: {option} must be ") and bound in err
    assert not (tmp_path / "o").exists()


def test_settings_that_cannot_work_together_are_refused(demo_input, tmp_path, capsys):
    assert cli.main(["demo", "--window", "3", "-o", str(tmp_path / "o")]) == 2  # the default overlap is 3
    assert "--overlap must be an integer >= 0 and <= 2 (less than window (3)), got 3" in _error(capsys)
    video, keypoints = demo_input
    assert cli.main(["reconstruct", str(video), "--keypoints", str(keypoints), "--start", "2", "--end", "1",
                     "-o", str(tmp_path / "o")]) == 2
    assert "--end (1.0 s) must come after the start (2.0 s)" in _error(capsys)
    assert not (tmp_path / "o").exists()


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


def test_overlay_keeps_the_input_colours(finished_run, demo_input):
    """Issue 21 item 1: frames arrive RGB and were written as if BGR, so a blue background came out orange.
    Away from the drawn body (the sky band at the top), an overlay frame has the input frame's colours."""
    video, _ = demo_input
    for frame in (0, 17):
        pictures = []
        for path in (video, finished_run / "overlay.mp4"):
            cap = cv2.VideoCapture(str(path))
            cap.set(cv2.CAP_PROP_POS_FRAMES, frame)
            pictures.append(cap.read()[1][:40, 600:900].reshape(-1, 3).mean(axis=0))
        source, overlay = pictures
        np.testing.assert_allclose(source, BACKGROUND[::-1], atol=12)  # OpenCV reads BGR
        np.testing.assert_allclose(overlay, source, atol=8)


def _with_gaps(keypoints: Path, seen: np.ndarray, path: Path) -> Path:
    from phymo.pose import Keypoints2D, load_keypoints

    kp = load_keypoints(keypoints)
    keep = seen[:, None]
    return Keypoints2D(kp.points * keep[..., None], kp.confidence * keep, kp.joint_set, kp.fps, kp.width, kp.height,
                       kp.world * keep[..., None], seen, kp.frame_indices, kp.meta).save(path)


def test_frames_without_the_person_are_trimmed_bridged_or_split(demo_input, tmp_path):
    """Issue 21 item 3: frames without the person became a T-posed body. Of the 30 frames, the person is
    missed in 0-1 (left out), 11-12 (bridged), 16-22 (split: two segments) and 29 (left out). Each segment
    is reconstructed and written alone; no rest pose is exported."""
    video, keypoints = demo_input
    seen = np.ones(30, bool)
    seen[[0, 1, 11, 12, 16, 17, 18, 19, 20, 21, 22, 29]] = False
    gappy = _with_gaps(keypoints, seen, tmp_path / "gappy.npz")
    out = tmp_path / "out"
    out.mkdir()
    (out / "motion.bvh").write_text("from an earlier run of one segment")
    (out / "motion_capture.bvh").write_text("the user's own file")
    assert cli.main(["reconstruct", str(video), "--keypoints", str(gappy), "-o", str(out), *FAST]) == 0
    report = json.loads((out / "report.json").read_text())
    cov = report["coverage"]
    assert cov["segments"] == [[2, 15], [23, 28]] and cov["frames_reconstructed"] == 20
    assert (cov["left_out_leading"], cov["left_out_trailing"]) == (2, 1)
    assert cov["bridged_gaps"] == [[11, 12]] and cov["split_at_gaps"] == [[16, 22]] and cov["dropped_runs"] == []
    assert not (out / "motion.bvh").exists() and (out / "motion_capture.bvh").exists()  # stale output removed
    for k, frames in ((1, range(2, 16)), (2, range(23, 29))):
        for stem in ("motion", "kinematic"):
            with np.load(out / f"{stem}_{k}.npz", allow_pickle=False) as z:
                assert z["frame_index"].tolist() == list(frames)
                body = z["rotations"][:, 1:]  # a rest pose has every joint's rotation at identity
                assert np.isfinite(z["positions"]).all() and (np.abs(body[..., 0]) < 0.9999).any(axis=1).all()
            assert read_bvh(out / f"{stem}_{k}.bvh").num_frames == len(frames)
    assert [s["files"]["physics"]["bvh"] for s in report["segments"]] == ["motion_1.bvh", "motion_2.bvh"]
    cap = cv2.VideoCapture(str(out / "overlay.mp4"))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 30  # every examined frame, the body only where reconstructed


def test_bad_person_fails_before_any_work(demo_input, tmp_path, capsys):
    video, keypoints = demo_input
    assert cli.main(["reconstruct", str(video), "--person", "the tall one", "-o", str(tmp_path / "o")]) == 2
    assert _error(capsys).startswith("phymo reconstruct: error: --person must be a number (0 is the leftmost")
    assert not (tmp_path / "o").exists()


def _report(fallbacks: int, windows: int, weak=()) -> dict:
    zero = {"foot_skating": 0.0, "penetration_mm": 0.0, "floating_mm": 0.0, "residual_force_n": None}
    return {"input": {"frames": 90, "fps": 30.0, "guesses": {"weak": list(weak)}}, "timings_s": {"total": 1.0},
            "coverage": {"segments": [[0, 89]], "frames_reconstructed": 90, "frames_examined": 90,
                         "left_out_leading": 0, "left_out_trailing": 0},
            "compute_s_per_video_s": 1.0, "plausibility": {"physics": zero, "kinematic": zero}, "files": [],
            "windows": [{"status": "fell back" if i < fallbacks else "optimized", "start": 0, "stop": 15,
                         "segment": 0, "reason": "x", "residual_share": 0.0} for i in range(windows)]}


def test_a_run_that_mostly_fell_back_says_so(tmp_path, capsys):
    from phymo.app.commands.reconstruct import print_summary

    print_summary(_report(61, 75, ["the person's height is assumed"]), tmp_path)
    out = capsys.readouterr().out
    assert "WARNING: 61 of 75 physics windows fell back to the kinematic estimate" in out
    assert "note: the person's height is assumed" in out
    print_summary(_report(37, 75), tmp_path)
    assert "WARNING" not in capsys.readouterr().out
    assisted = _report(0, 4)
    assisted["windows"][2] |= {"status": "assisted", "residual_share": 0.31, "reason": "the body fell"}
    print_summary(assisted, tmp_path)
    out = capsys.readouterr().out
    assert "3 optimized, 0 re-solved, 1 assisted, 0 fell back" in out
    assert ("assisted: frames 0-14 (segment 1), the residual root force held 31% of the body weight: the body fell"
            in out)
