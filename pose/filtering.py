"""Temporal filtering of keypoint tracks: One-Euro (causal, adaptive) or Savitzky-Golay (offline).

Both work per keypoint and coordinate and only on observed samples (``confidence > 0``); a gap
restarts the filter, so missing frames are never smeared into observed ones.

One-Euro (Casiez, Roussel, Vogel, CHI 2012): a low-pass filter whose cutoff rises with speed,
``cutoff = min_cutoff + beta * |dx/dt|``. ``min_cutoff`` (Hz) sets the smoothing at rest (lower: less
jitter, more lag); ``beta`` (per unit of the signal's speed; for pixels, per px/s) sets how fast lag
falls when the point moves; ``d_cutoff`` (Hz) smooths the speed estimate.

Savitzky-Golay: a least-squares polynomial of order ``polyorder`` over a centred window of
``window_s`` seconds (rounded to an odd number of frames >= polyorder + 2); segments shorter than
the window are left as they are.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from phymo.data import ConfigError, check_range, runs_of_true


@dataclass(frozen=True)
class FilterConfig:
    """Which filter and its parameters (see the module docstring); ``method="none"`` passes through."""

    method: str = "one_euro"
    min_cutoff: float = 3.0
    beta: float = 0.05
    d_cutoff: float = 1.0
    window_s: float = 0.25
    polyorder: int = 2

    def __post_init__(self) -> None:
        if self.method not in ("one_euro", "savgol", "none"):
            raise ConfigError("method", f"of the keypoint filter must be one_euro, savgol or none, got {self.method!r}")
        for name in ("min_cutoff", "d_cutoff", "window_s"):
            check_range(name, getattr(self, name), 0.0, strict_low=True)
        check_range("beta", self.beta, 0.0)
        check_range("polyorder", self.polyorder, 0)


def _alpha(cutoff, dt):
    tau = 1.0 / (2 * np.pi * cutoff)
    return 1.0 / (1.0 + tau / dt)


def one_euro(x: np.ndarray, fps: float, min_cutoff: float = 3.0, beta: float = 0.05, d_cutoff: float = 1.0
             ) -> np.ndarray:
    """One-Euro filter of ``x (T, ...)`` sampled at ``fps``, along axis 0 (no gaps)."""
    x = np.asarray(x, dtype=np.float64)
    out = np.empty_like(x)
    if len(x) == 0:
        return out
    dt = 1.0 / fps
    out[0], dx = x[0], np.zeros_like(x[0])
    a_d = _alpha(d_cutoff, dt)
    for i in range(1, len(x)):
        dx = a_d * (x[i] - out[i - 1]) / dt + (1 - a_d) * dx
        a = _alpha(min_cutoff + beta * np.abs(dx), dt)
        out[i] = a * x[i] + (1 - a) * out[i - 1]
    return out


def filter_keypoints(points: np.ndarray, confidence: np.ndarray, fps: float, config: FilterConfig = FilterConfig()
                     ) -> np.ndarray:
    """Filter ``points (T, K, D)`` over time where ``confidence (T, K) > 0``; other entries are returned as given."""
    from scipy.signal import savgol_filter

    out = np.array(points, dtype=np.float64)
    if config.method == "none":
        return out
    window = max(int(round(config.window_s * fps)) // 2 * 2 + 1, config.polyorder + 2 + (config.polyorder % 2 == 0))
    for k in range(out.shape[1]):
        for a, b in runs_of_true(np.asarray(confidence)[:, k] > 0):
            seg = out[a:b, k]
            if config.method == "one_euro":
                out[a:b, k] = one_euro(seg, fps, config.min_cutoff, config.beta, config.d_cutoff)
            elif b - a >= window:
                out[a:b, k] = savgol_filter(seg, window, config.polyorder, axis=0)
    return out
