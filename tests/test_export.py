import json
import os

import numpy as np
import pytest

from phymo.data import Camera, motion_arrays, save_json, save_npz, walking_motion


def test_npz_and_json_round_trip_without_pickle(tmp_path):
    motion = walking_motion(duration_s=0.5, fps=20.0)
    cam = Camera.from_fov(320, 240).looking_at((0, -4, 1), (0, 0, 1))
    arrays = motion_arrays(motion, cam, extras={"contacts": np.ones((motion.num_frames, 4), bool)},
                          frame_index=np.arange(motion.num_frames) * 2 + 7)
    save_npz(tmp_path / "m.npz", arrays)
    save_json(tmp_path / "m.json", arrays, meta={"source": "test"})
    with np.load(tmp_path / "m.npz", allow_pickle=False) as z:
        assert np.allclose(z["positions"], motion.positions())
        assert list(z["joint_names"]) == list(motion.skeleton.names)
        assert z["frame_index"][:3].tolist() == [7, 9, 11] and float(z["fps"]) == 20.0 and str(z["up_axis"]) == "z"
        assert z["contacts"].dtype == bool
    j = json.loads((tmp_path / "m.json").read_text())
    assert np.allclose(j["rotations"], motion.rotations) and j["meta"] == {"source": "test"}
    assert not list(tmp_path.glob(".*"))
    umask = os.umask(0o022)
    os.umask(umask)
    assert (tmp_path / "m.npz").stat().st_mode & 0o777 == 0o666 & ~umask  # not private to the writer
    first = (tmp_path / "m.npz").read_bytes()
    save_npz(tmp_path / "m.npz", arrays)
    assert (tmp_path / "m.npz").read_bytes() == first  # byte for byte: a rerun's outputs compare equal


def test_extras_cannot_shadow_standard_keys():
    with pytest.raises(ValueError, match="overwrite"):
        motion_arrays(walking_motion(0.2), extras={"fps": np.array(1.0)})


def test_observations_survive_the_stage_cache(tmp_path):
    from phymo.data import observations_from_arrays, observations_to_arrays, synthesize_observations

    obs = synthesize_observations(walking_motion(duration_s=0.5, fps=20.0), seed=3)
    save_npz(tmp_path / "obs.npz", observations_to_arrays(obs))
    with np.load(tmp_path / "obs.npz", allow_pickle=False) as z:
        back = observations_from_arrays(z)
    assert np.array_equal(back.keypoints_2d, obs.keypoints_2d) and np.array_equal(back.confidence, obs.confidence)
    assert np.allclose(back.kinematic.positions(), obs.kinematic.positions())
    assert np.allclose(back.camera.R, obs.camera.R) and back.fps == obs.fps
    assert back.meta["seed"] == obs.meta["seed"]
