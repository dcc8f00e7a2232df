"""Temporal filtering, and camera intrinsics from focal / FOV / calibration file."""

import numpy as np
import pytest

from phymo.data.errors import DataFormatError
from phymo.pose import FilterConfig, camera_from_fov, filter_keypoints, load_calibration_toml, one_euro, resolve_camera


@pytest.mark.parametrize("method", ["one_euro", "savgol"])
def test_filters_reduce_jitter_and_respect_gaps(method):
    rng = np.random.default_rng(0)
    t = np.arange(120) / 30.0
    clean = np.stack([100 + 50 * np.sin(t), 200 + 20 * t], -1)[:, None, :]
    noisy = clean + rng.normal(0, 3.0, clean.shape)
    conf = np.ones((120, 1))
    conf[60:63] = 0
    noisy[60:63] = 0.0
    out = filter_keypoints(noisy, conf, 30.0, FilterConfig(method=method))
    ok = conf[:, 0] > 0
    rms = lambda x: float(np.sqrt(np.mean((x - clean)[ok] ** 2)))  # noqa: E731
    assert rms(out) < 0.75 * rms(noisy)
    np.testing.assert_array_equal(out[60:63], 0.0)  # missing frames are not filled by the filter
    np.testing.assert_array_equal(filter_keypoints(noisy, conf, 30.0, FilterConfig(method="none")), noisy)


def test_one_euro_tracks_a_constant_and_a_ramp():
    np.testing.assert_allclose(one_euro(np.full(50, 3.0), 30.0), 3.0)
    ramp = np.arange(200, dtype=float)
    assert abs(one_euro(ramp, 30.0, beta=1.0)[-1] - ramp[-1]) < 2.0
    with pytest.raises(ValueError):
        FilterConfig(method="kalman")


def test_camera_sources(tmp_path):
    cam = camera_from_fov(1080, 1920, 60.0)
    assert cam.fx == pytest.approx(960 / np.tan(np.radians(30))) and (cam.cx, cam.cy) == (540, 960)
    cam, how = resolve_camera(640, 480, focal_px=700.0)
    assert cam.fx == 700.0 and "focal" in how
    toml = tmp_path / "calib.toml"
    toml.write_text('[cam_a]\nname = "a"\nsize = [ 800, 600]\n'
                    'matrix = [ [ 1000.0, 0.0, 410.0], [ 0.0, 1001.0, 290.0], [ 0.0, 0.0, 1.0]]\n'
                    'distortions = [ 0.0, 0.0, 0.0, 0.0]\nrotation = [ 0.0, 0.0, 1.5707963267948966]\n'
                    'translation = [ 1.0, 2.0, 3.0]\nfisheye = false\n\n[metadata]\nadjusted = false\n')
    cam = load_calibration_toml(toml)
    assert (cam.fx, cam.fy, cam.cx, cam.cy, cam.width, cam.height) == (1000.0, 1001.0, 410.0, 290.0, 800, 600)
    np.testing.assert_allclose(cam.R @ [1.0, 0, 0], [0, 1, 0], atol=1e-12)
    np.testing.assert_allclose(cam.t, [1, 2, 3])
    half = load_calibration_toml(toml, width=400, height=300)
    assert half.fx == 500.0 and half.cx == 205.0
    with pytest.raises(DataFormatError):
        load_calibration_toml(toml, name="nope")
    bad = tmp_path / "bad.toml"
    bad.write_text("x = [")
    with pytest.raises(DataFormatError):
        load_calibration_toml(bad)


def test_shared_sports2d_calibration():
    from pathlib import Path

    path = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "sports2d" / "Calib_demo.toml"
    if not path.is_file():
        pytest.skip("shared data not present")
    cam = load_calibration_toml(path)
    assert (cam.width, cam.height) == (1768, 994) and cam.fx == pytest.approx(2520.09, abs=0.01)
