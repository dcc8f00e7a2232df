"""Temporal filtering of keypoint tracks."""

import numpy as np
import pytest

from phymo.pose import FilterConfig, filter_keypoints, one_euro


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
