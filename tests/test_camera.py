import numpy as np
import pytest
import torch

from phymo.data import Camera


def test_projection_of_known_point():
    cam = Camera.from_fov(640, 480, fov_deg=90.0).looking_at(eye=(0, -5, 1), target=(0, 0, 1))
    # fov 90 -> f = 320; the target projects to the centre, a point 1 m right of it (+X world) at 5 m depth
    assert np.allclose(cam.project(np.array([0.0, 0.0, 1.0])), [320, 240])
    assert np.allclose(cam.project(np.array([1.0, 0.0, 1.0])), [320 + 320 / 5, 240])
    # world up is image up (v decreases)
    assert cam.project(np.array([0.0, 0.0, 2.0]))[1] < 240
    assert np.allclose(cam.center, [0, -5, 1])


def test_torch_projection_matches_numpy():
    cam = Camera(800, 810, 300, 200, 640, 480).looking_at((3, 2, 1.5), (0, 0, 1))
    pts = np.random.default_rng(0).normal(size=(10, 3))
    assert np.allclose(cam.project(torch.tensor(pts)).numpy(), cam.project(pts))


def test_camera_round_trips_dict_and_rejects_nonsense():
    cam = Camera(800, 810, 300, 200, 640, 480).looking_at((3, 2, 1.5), (0, 0, 1))
    back = Camera.from_dict(cam.to_dict())
    assert np.allclose(back.R, cam.R) and np.allclose(back.t, cam.t) and back.fx == cam.fx
    with pytest.raises(ValueError, match="focal"):
        Camera(-1, 1, 0, 0, 10, 10)
    with pytest.raises(ValueError, match="field of view"):
        Camera.from_fov(10, 10, 200)
