"""One ground, height and camera per clip: the segments of ``phymo reconstruct`` share the ground estimated where the
feet were seen, and a segment whose body cannot be placed on it is left out and reported, never exported wrong."""

import json
import re
from pathlib import Path

import numpy as np
import pytest

from phymo.app.commands import cli
from phymo.app.demo.synthetic import demo_scene, write_demo_input
from phymo.data import MEDIAPIPE_33, PhymoError
from phymo.pose import FitConfig, Keypoints2D, load_keypoints

#: a cheap physics and the detector's landmarks as the 3D prior (the synthetic input carries them): these tests are
#: about the ground
FAST = ["--optimizer", "adam", "--steps", "2", "--window", "16", "--samples", "16", "--iterations", "2",
        "--prior", "mediapipe", "--no-overlay"]
#: MediaPipe points of the legs: knees, ankles, heels, toes
LEGS = [i for n, i in MEDIAPIPE_33.pairs if n.endswith(("knee", "ankle", "toe"))] + [29, 30]


def _clip(folder: Path, duration_s: float, seen: np.ndarray, legs_hidden=(), turned=()) -> Path:
    """The demo walk's keypoints, seen in rows ``seen``, the legs hidden in rows ``legs_hidden`` and in rows
    ``turned`` seen by the camera rolled 180 degrees about its axis (the person upside down in the picture)."""
    kp = load_keypoints(write_demo_input(folder, duration_s)[1])
    points, conf, world = kp.points.copy(), kp.confidence.copy(), kp.world.copy()
    conf[np.ix_(list(legs_hidden), LEGS)] = 0.0
    turned = list(turned)
    points[turned] = [kp.width, kp.height] - points[turned]  # the principal point is the picture's centre
    world[turned, :, :2] *= -1.0
    keep = seen[:, None] & (conf > 0)
    return Keypoints2D(points * keep[..., None], conf * keep, kp.joint_set, kp.fps, kp.width, kp.height,
                       world * keep[..., None], seen, kp.frame_indices, kp.meta).save(folder / "clip.npz")


def _up(npz: Path) -> tuple[np.ndarray, float]:
    """The up vector (camera frame) and the ground's offset along it (``up . x = offset``, m) of an export."""
    with np.load(npz, allow_pickle=False) as z:
        up = z["camera_R"] @ [0.0, 0.0, 1.0]
        return up, float(up @ z["camera_t"])


def test_segments_share_the_ground_that_saw_the_feet_and_one_upside_down_is_left_out(tmp_path, monkeypatch):
    """A 2 s walk seen in rows 0-21, 30-45 with the legs hidden (its own ground estimate leans 8.5 degrees off the
    true up), and 53-59 upside down (a rolled camera: on its own ground it looks upright). The second segment is
    placed on the first's ground (0.5 degrees off), with the same body; the third stands on no ground of this
    camera: left out, said in report.json, not exported. A resumed run refits nothing."""
    seen = np.zeros(60, bool)
    seen[0:22] = seen[30:46] = seen[53:60] = True
    clip = _clip(tmp_path / "in", 2.0, seen, legs_hidden=range(30, 46), turned=range(53, 60))
    out = tmp_path / "out"
    assert cli.main(["reconstruct", "--keypoints", str(clip), "-o", str(out), *FAST]) == 0
    cov = json.loads((out / "report.json").read_text())["coverage"]
    assert cov["segments"] == [[0, 21], [30, 45]] and cov["frames_reconstructed"] == 38
    assert [u["frames"] for u in cov["unplaced_segments"]] == [[53, 59]]
    assert re.search(r"the trunk leans 1\d\d degrees", cov["unplaced_segments"][0]["reason"])
    assert not any(out.glob("*_3.*"))
    (up1, h1), (up2, h2) = _up(out / "kinematic_1.npz"), _up(out / "kinematic_2.npz")
    assert np.array_equal(up1, up2) and h1 == h2
    _, camera = demo_scene(2.0)
    assert np.degrees(np.arccos(up2 @ camera.R @ [0.0, 0.0, 1.0])) < 2.0
    for stem in ("kinematic", "motion"):
        with np.load(out / f"{stem}_1.npz") as a, np.load(out / f"{stem}_2.npz") as b:
            assert np.array_equal(a["camera_t"], b["camera_t"]) and np.array_equal(a["offsets"], b["offsets"])
    assert len(list((out / "cache").glob("kinematic-*.npz"))) == 3  # the first on its own ground, two on it

    before = {stem: dict(np.load(out / f"{stem}_2.npz")) for stem in ("kinematic", "motion")}
    monkeypatch.setattr("phymo.pose.initialize", lambda *a, **k: pytest.fail("refitted"))
    assert cli.main(["reconstruct", "--keypoints", str(clip), "-o", str(out), "--resume", *FAST]) == 0
    for stem, arrays in before.items():
        with np.load(out / f"{stem}_2.npz") as z:
            assert np.array_equal(z["camera_t"], arrays["camera_t"])
            assert np.array_equal(z["positions"], arrays["positions"])


def test_a_ground_given_to_the_fit_is_part_of_its_cache_key(tmp_path):
    from phymo.app.pipeline import PipelineConfig
    from phymo.app.stages import kinematic_initialization
    from phymo.pose import Ground

    kp = load_keypoints(write_demo_input(tmp_path / "in", 0.3)[1])
    config = PipelineConfig(fit=FitConfig(prior="mediapipe", iterations=3, root_iterations=3))
    own = kinematic_initialization(kp, config, tmp_path)
    up = own.camera.R[:, 2]
    ground = Ground.below(own.camera.t, up, up @ own.camera.t + 0.1, "given")  # 10 cm higher
    given = kinematic_initialization(kp, config, tmp_path, ground)
    assert len(list(tmp_path.glob("kinematic-*.npz"))) == 2
    assert np.array_equal(given.camera.t, ground.origin) and not np.array_equal(given.camera.t, own.camera.t)


def test_a_clip_no_segment_of_which_can_be_placed_is_an_error(tmp_path):
    """The person upside down throughout, on the camera's level ground (no estimate under the body): nothing
    can be placed, and the error says why and what to do; no output is written."""
    from phymo.app.pipeline import PipelineConfig, run_pipeline

    clip = _clip(tmp_path / "in", 1.0, np.ones(30, bool), turned=range(30))
    config = PipelineConfig(overlay=False, fit=FitConfig(prior="mediapipe", estimate_ground=False))
    with pytest.raises(PhymoError, match=r"no segment of the clip could be placed on a ground \(frames 0-29: on a "
                                         r"ground estimated under it, the trunk leans 1\d\d degrees") as err:
        run_pipeline(tmp_path / "out", config, keypoints=clip)
    assert "give a clip in which they are seen standing or walking" in str(err.value)
    assert not any(p.is_file() and p.parent.name != "cache" for p in (tmp_path / "out").rglob("*"))
