"""Per-dimension input features shared by Adafactor-MLP, Optimus and Mnemosyne (one implementation).

The parameter vector ``x`` is flat, shape ``(d,)``. Accumulators live in a plain dict (the
functional state); :func:`update_accumulators` returns a new dict and never mutates its input.

Feature layout (``N_FEATURES = 28`` per-dimension columns, each divided by its RMS over the ``d``
entries, then ``N_TIME = 11`` time columns ``tanh(t / tau - 1)``):

====  ======================================================================
col   meaning
====  ======================================================================
0     gradient ``g``
1     parameter ``x``
2-4   momenta ``m_b`` at decays ``b`` in MOMENTUM_DECAYS = (0.9, 0.99, 0.999)
5     second moment ``v`` (decay 0.999)
6     ``rsqrt(v + eps)``
7-9   ``m_b * rsqrt(v + eps)``
10-12 Adafactor factored accumulators ``f_b`` at decays (0.9, 0.99, 0.999); for a flat vector
      the row/column factorisation is not defined and they fall back to the diagonal
      accumulator ``EMA_b(g^2)`` (as in learned_optimization's adafac_mlp for rank-1 tensors)
13-15 ``rsqrt(f_b + eps)``
16-18 ``g * rsqrt(f_b + eps)``
19-21 ``m_b * rsqrt(f_b + eps)`` (same decay index)
22-24 row factor of ``f_b`` (flat vector: the diagonal accumulator)
25-27 column factor of ``f_b`` (flat vector: the diagonal accumulator)
====  ======================================================================
"""

from __future__ import annotations

import torch

MOMENTUM_DECAYS = (0.9, 0.99, 0.999)
SECOND_MOMENT_DECAY = 0.999
FACTORED_DECAYS = (0.9, 0.99, 0.999)
TIME_SCALES = (1, 3, 10, 30, 100, 300, 1_000, 3_000, 10_000, 30_000, 100_000)
N_FEATURES = 28
N_TIME = len(TIME_SCALES)
N_INPUTS = N_FEATURES + N_TIME
EPS = 1e-8


def init_accumulators(x: torch.Tensor) -> dict[str, torch.Tensor]:
    """Zero accumulators for a flat parameter ``x`` of shape ``(d,)`` (same device and dtype)."""
    d = x.shape[0]
    z = x.new_zeros
    return {"m": z(len(MOMENTUM_DECAYS), d), "v": z(d), "f": z(len(FACTORED_DECAYS), d),
            "t": x.new_zeros(())}


def update_accumulators(acc: dict[str, torch.Tensor], g: torch.Tensor) -> dict[str, torch.Tensor]:
    """EMA updates with gradient ``g`` ``(d,)``; ``t`` counts completed updates."""
    bm = g.new_tensor(MOMENTUM_DECAYS)[:, None]
    bf = g.new_tensor(FACTORED_DECAYS)[:, None]
    g2 = g * g
    return {"m": bm * acc["m"] + (1 - bm) * g,
            "v": SECOND_MOMENT_DECAY * acc["v"] + (1 - SECOND_MOMENT_DECAY) * g2,
            "f": bf * acc["f"] + (1 - bf) * g2,
            "t": acc["t"] + 1}


def raw_features(acc: dict[str, torch.Tensor], g: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """The 28 unnormalised feature columns, shape ``(d, 28)`` (layout in the module docstring)."""
    m, v, f = acc["m"], acc["v"], acc["f"]
    rv = torch.rsqrt(v + EPS)
    rf = torch.rsqrt(f + EPS)
    cols = [g[None], x[None], m, v[None], rv[None], m * rv, f, rf, g * rf, m * rf, f, f]
    return torch.cat(cols, 0).T


def rms_normalize(feat: torch.Tensor) -> torch.Tensor:
    """Divide each column of ``feat`` ``(d, n)`` by its root mean square over the ``d`` rows."""
    return feat * torch.rsqrt(feat.square().mean(0, keepdim=True) + EPS)


def time_features(t: torch.Tensor, d: int) -> torch.Tensor:
    """``tanh(t / tau - 1)`` for tau in TIME_SCALES, broadcast to ``(d, 11)``."""
    tau = t.new_tensor(TIME_SCALES)
    return torch.tanh(t / tau - 1).expand(d, N_TIME)


def features(acc: dict[str, torch.Tensor], g: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Normalised per-dimension tokens ``(d, 39)`` from updated accumulators, gradient and parameter."""
    return torch.cat([rms_normalize(raw_features(acc, g, x)), time_features(acc["t"], x.shape[0])], 1)


def adam_direction(acc: dict[str, torch.Tensor], eps: float = 1e-8) -> torch.Tensor:
    """Bias-corrected Adam direction ``m_0.9 / (sqrt(v_0.999) + eps)``, shape ``(d,)``."""
    t = acc["t"].clamp(min=1)
    mhat = acc["m"][0] / (1 - MOMENTUM_DECAYS[0] ** t)
    vhat = acc["v"] / (1 - SECOND_MOMENT_DECAY ** t)
    return mhat / (vhat.sqrt() + eps)


def step_mlp(n_in: int, hidden: int, n_out: int = 2) -> torch.nn.Sequential:
    """The per-dimension MLP of Adafactor-MLP-style optimizers: ``n_in`` features -> (direction, magnitude)."""
    nn = torch.nn
    return nn.Sequential(nn.Linear(n_in, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
                         nn.Linear(hidden, n_out))
