"""Camera intrinsics from a focal length, a field of view or a calibration file (Pose2Sim TOML, Qualisys QCA)."""

import re

import numpy as np
import pytest

from phymo.data import DataFormatError
from phymo.pose import camera_from_fov, load_calibration, read_calibration, resolve_camera

_TOML = ('[cam_a]\nname = "a"\nsize = [ 800, 600]\n'
         'matrix = [ [ 1000.0, 0.0, 410.0], [ 0.0, 1001.0, 290.0], [ 0.0, 0.0, 1.0]]\n'
         'distortions = [ 0.0, 0.0, 0.0, 0.0]\nrotation = [ 0.0, 0.0, 1.5707963267948966]\n'
         'translation = [ 1.0, 2.0, 3.0]\nfisheye = false\n\n[metadata]\nadjusted = false\n')


def test_camera_sources(tmp_path):
    cam = camera_from_fov(1080, 1920, 60.0)
    assert cam.fx == pytest.approx(960 / np.tan(np.radians(30))) and (cam.cx, cam.cy) == (540, 960)
    cam, how = resolve_camera(640, 480, focal_px=700.0)
    assert cam.fx == 700.0 and "focal" in how
    toml = tmp_path / "calib.toml"
    toml.write_text(_TOML)
    cam = load_calibration(toml)
    assert (cam.fx, cam.fy, cam.cx, cam.cy, cam.width, cam.height) == (1000.0, 1001.0, 410.0, 290.0, 800, 600)
    np.testing.assert_allclose(cam.R @ [1.0, 0, 0], [0, 1, 0], atol=1e-12)
    np.testing.assert_allclose(cam.t, [1, 2, 3])
    assert list(read_calibration(toml)) == ["a"] and load_calibration(toml, name="a").fx == 1000.0
    half = load_calibration(toml, width=400, height=300)
    assert half.fx == 500.0 and half.cx == 205.0
    with pytest.raises(DataFormatError, match="no camera 'nope'; cameras: a"):
        load_calibration(toml, name="nope")
    bad = tmp_path / "bad.toml"
    bad.write_text("x = [")
    with pytest.raises(DataFormatError):
        load_calibration(bad)


def test_encoder_padding_keeps_the_intrinsics(tmp_path):
    """A 1080-wide video calibrated on its 1088-wide coded frames: same focal and principal point."""
    toml = tmp_path / "calib.toml"
    toml.write_text(_TOML)
    padded = load_calibration(toml, width=792, height=600)
    assert (padded.fx, padded.cx, padded.width) == (1000.0, 410.0, 792)
    assert load_calibration(toml, width=784, height=600).fx == pytest.approx(980.0)  # 16 px: a real resize


def test_qca_file_in_the_recipes_units_and_axes(tmp_path):
    """A one-camera QCA made here: 1/64 px intrinsics, fov offsets, pose in mm stored by column."""
    qca = tmp_path / "c.qca.txt"
    # the camera sits at (1, 2, 3) m; its pose rotation is identity: Qualisys camera axes = world axes
    qca.write_text('<?xml version="1.0"?><calibration><cameras><camera serial="left">'
                   '<fov_video left="8" top="4" right="647" bottom="483"/>'
                   '<transform x="1000" y="2000" z="3000" r11="1" r12="0" r13="0" r21="0" r22="1" r23="0" '
                   'r31="0" r32="0" r33="1"/><intrinsic focalLengthU="64000" focalLengthV="64064" '
                   'centerPointU="20992" centerPointV="15616"/></camera></cameras></calibration>')
    cam = read_calibration(qca)["left"]
    assert (cam.width, cam.height, cam.fx, cam.fy, cam.cx, cam.cy) == (640, 480, 1000.0, 1001.0, 320.0, 240.0)
    np.testing.assert_allclose(cam.center, [1, 2, 3], atol=1e-12)
    # a point 2 m along the world's -z (the Qualisys camera looks along its -z) is straight ahead in OpenCV axes
    np.testing.assert_allclose(cam.to_camera(np.array([1.0, 2.0, 1.0])), [0, 0, 2], atol=1e-12)
    np.testing.assert_allclose(cam.to_camera(np.array([1.0, 3.0, 1.0])), [0, -1, 2], atol=1e-12)  # world +y is up
    qca.write_text('<calibration><cameras><camera serial="x"><transform x="1"/></camera></cameras></calibration>')
    with pytest.raises(DataFormatError, match="camera 1 lacks or garbles"):
        read_calibration(qca)


def _recipe(text: str) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """SOURCE.md's recipe, by regular expressions: camera position (m) and K per camera serial."""
    out = {}
    for block in re.findall(r"<camera .*?</camera>", text, re.S):
        a = dict(re.findall(r'(\w+)="([^"]*)"', block))
        pos = np.array([float(a[k]) for k in "xyz"]) / 1000.0
        K = np.array([[float(a["focalLengthU"]) / 64, 0, float(a["centerPointU"]) / 64 - float(a["left"])],
                      [0, float(a["focalLengthV"]) / 64, float(a["centerPointV"]) / 64 - float(a["top"])], [0, 0, 1]])
        out[a["serial"]] = (pos, K)
    return out


def test_shared_qca_camera_positions_within_a_millimetre(shared_data):
    qca = shared_data("pose2sim", "balancing_trial", "calibration", "Calib.qca.txt")
    cams, recipe = read_calibration(qca), _recipe(qca.read_text())
    assert list(cams) == ["cam01", "cam02", "cam03", "cam04"] == list(recipe)
    for name, cam in cams.items():
        pos, K = recipe[name]
        assert np.linalg.norm(cam.center - pos) < 1e-3, name
        np.testing.assert_allclose(cam.K, K, rtol=1e-12)
        assert (cam.width, cam.height) == (1088, 1920)
        np.testing.assert_allclose(cam.R @ cam.R.T, np.eye(3), atol=1e-9)
        assert cam.to_camera(np.zeros(3))[2] > 2.0  # every camera looks at the lab's origin from a few metres


def test_shared_sports2d_calibration(shared_data):
    path = shared_data("sports2d", "Calib_demo.toml")
    cam = load_calibration(path)
    assert (cam.width, cam.height) == (1768, 994) and cam.fx == pytest.approx(2520.09, abs=0.01)
