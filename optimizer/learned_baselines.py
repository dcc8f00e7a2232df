"""Learned-optimizer baselines on the shared features (features.py), same functional contract as Optimus.

* :class:`AdafacMLP` - the Adafactor-MLP learned optimizer of google/learned_optimization
  (``adafac_mlp_lopt``): a per-dimension MLP maps the 39 features to a direction ``d`` and a
  magnitude ``m``; ``delta = -step_mult * d * exp(exp_mult * m)``.
* :class:`Metz2020` - hierarchical optimizer of Metz et al. 2020 (arXiv 2009.11243): a per-tensor
  LSTM reads summary statistics of the features (the flat vector is one tensor) plus the log loss,
  and its output conditions the per-parameter MLP.
* :class:`Mnemosyne` - Performer-style learned optimizer (Jain et al. 2023, arXiv 2302.01128):
  FAVOR+ linear attention (positive random features, ``O(d)``) over the dimension tokens, then a
  per-token readout of direction and magnitude.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
from torch import nn

from . import features as F


def _step(out: torch.Tensor, step_mult: float, exp_mult: float) -> torch.Tensor:
    return -step_mult * out[:, 0] * torch.exp((exp_mult * out[:, 1]).clamp(max=5.0))


@dataclass(frozen=True)
class AdafacMLPConfig:
    hidden: int = 32
    step_mult: float = 0.01
    exp_mult: float = 0.5


class AdafacMLP(nn.Module):
    def __init__(self, config: AdafacMLPConfig = AdafacMLPConfig()):
        super().__init__()
        self.config = config
        self.mlp = F.step_mlp(F.N_INPUTS, config.hidden)

    def arch(self) -> dict:
        return {"name": "adafac_mlp", **asdict(self.config)}

    def init_state(self, x):
        return F.init_accumulators(x)

    def step(self, state, x, g, loss=None):
        acc = F.update_accumulators(state, g)
        return acc, _step(self.mlp(F.features(acc, g, x)), self.config.step_mult, self.config.exp_mult)

    forward = step


@dataclass(frozen=True)
class Metz2020Config:
    hidden: int = 32
    lstm_hidden: int = 16
    lstm_out: int = 8
    step_mult: float = 0.01
    exp_mult: float = 0.5


class Metz2020(nn.Module):
    def __init__(self, config: Metz2020Config = Metz2020Config()):
        super().__init__()
        c = self.config = config
        n_stats = 2 * F.N_FEATURES + F.N_TIME + 1
        self.lstm = nn.LSTMCell(n_stats, c.lstm_hidden)
        self.lstm_out = nn.Linear(c.lstm_hidden, c.lstm_out)
        self.mlp = F.step_mlp(F.N_INPUTS + c.lstm_out, c.hidden)

    def arch(self) -> dict:
        return {"name": "metz2020", **asdict(self.config)}

    def init_state(self, x):
        h = x.new_zeros(self.config.lstm_hidden)
        return {**F.init_accumulators(x), "h": h, "c": h.clone()}

    def step(self, state, x, g, loss=None):
        acc = F.update_accumulators({k: state[k] for k in ("m", "v", "f", "t")}, g)
        raw = F.raw_features(acc, g, x)
        # per-tensor statistics: log mean |feature| and log RMS (scale information the per-dim
        # normalisation removes), time features and the log loss
        stats = torch.cat([torch.log(raw.abs().mean(0) + 1e-12) / 10, torch.log(raw.square().mean(0) + 1e-24) / 20,
                           F.time_features(acc["t"], 1)[0],
                           (torch.log1p(loss.abs()) / 10 if loss is not None else x.new_zeros(())).reshape(1)])
        h, c = self.lstm(stats[None], (state["h"][None], state["c"][None]))
        ctx = self.lstm_out(h[0]).expand(x.shape[0], -1)
        out = self.mlp(torch.cat([F.features(acc, g, x), ctx], 1))
        return {**acc, "h": h[0], "c": c[0]}, _step(out, self.config.step_mult, self.config.exp_mult)

    forward = step


@dataclass(frozen=True)
class MnemosyneConfig:
    d_model: int = 16
    n_random: int = 16
    hidden: int = 32
    step_mult: float = 0.01
    exp_mult: float = 0.5
    seed: int = 0


class Mnemosyne(nn.Module):
    def __init__(self, config: MnemosyneConfig = MnemosyneConfig()):
        super().__init__()
        c = self.config = config
        self.embed = nn.Linear(F.N_INPUTS, c.d_model)
        self.qkv = nn.Linear(c.d_model, 3 * c.d_model)
        gen = torch.Generator().manual_seed(c.seed)
        self.register_buffer("omega", torch.randn(c.d_model, c.n_random, generator=gen))
        self.mlp = F.step_mlp(2 * c.d_model, c.hidden)

    def arch(self) -> dict:
        return {"name": "mnemosyne", **asdict(self.config)}

    def init_state(self, x):
        return F.init_accumulators(x)

    def _phi(self, z):
        """FAVOR+ positive random features of ``z`` ``(d, d_model)`` -> ``(d, n_random)``."""
        z = z / self.config.d_model ** 0.25
        return torch.exp(z @ self.omega - 0.5 * z.square().sum(-1, keepdim=True)) / math.sqrt(self.config.n_random)

    def step(self, state, x, g, loss=None):
        acc = F.update_accumulators(state, g)
        h = self.embed(F.features(acc, g, x))
        q, k, v = self.qkv(h).chunk(3, -1)
        pq, pk = self._phi(q), self._phi(k)
        att = (pq @ (pk.T @ v)) / (pq @ pk.sum(0, keepdim=True).T + 1e-6)   # O(d) linear attention
        out = self.mlp(torch.cat([h, att], 1))
        return acc, _step(out, self.config.step_mult, self.config.exp_mult)

    forward = step
