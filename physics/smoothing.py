"""Gaussian smoothing over time, shared by the reference and its servo targets."""

from __future__ import annotations

import numpy as np


def smooth_frames(x: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian smoothing of ``x (T, D)`` over time (``sigma`` frames, edges padded)."""
    if sigma <= 0 or len(x) < 3:
        return x.copy()
    r = int(np.ceil(3 * sigma))
    k = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma) ** 2)
    k /= k.sum()
    pad = np.pad(x, [(r, r)] + [(0, 0)] * (x.ndim - 1), mode="edge")
    return np.stack([np.convolve(pad[:, i], k, mode="valid") for i in range(x.shape[1])], axis=1)
