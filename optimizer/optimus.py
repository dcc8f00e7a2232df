"""Optimus: a Transformer-based learned optimizer with a BFGS-inspired low-rank preconditioner.

Gärtner, Metz, Andriluka, Freeman, Sminchisescu, "Transformer-Based Learned Optimization",
CVPR 2023 (arXiv 2212.01055). Update of the flat parameter ``x`` ``(d,)``::

    tokens_i = features(x, g)_i                           (39 per dimension, features.py)
    dir_i, mag_i = MLP(tokens_i)                          (per-dimension branch, Adafactor-MLP style)
    s_i = exp(min(c1 * mag_i, 5)) * (c2 * dir_i + exp(log_lr) * a_i)
    h = Encoder_L(... Encoder_1(W [tokens, s / rms(s)]))  (L stacked Transformer encoders over d tokens)
    u_i = w_u . h_i ;  beta = bound(w_b . mean_i h_i)     (one rank-one term per step)
    B_{k+1} = B_k + beta u u^T / |u|^2  (window of K terms, preconditioner.py)
    x_{k+1} = x_k - B_{k+1} s

Departures from the paper, chosen for short CPU meta-training and documented in MODEL_CARD.md:
``a_i`` is the bias-corrected Adam direction (``features.adam_direction``), so with the output
layers zero-initialised an untrained Optimus is exactly Adam with step ``exp(log_lr)``; with
``log_lr -> -inf`` the per-dimension branch is exactly the Adafactor-MLP step (same MLP shape,
``c1 = exp_mult``, ``c2 = step_mult``), which is what :func:`warm_start_from_adafac` uses. ``B`` keeps only
the last ``K`` rank-one terms and ``beta`` is bounded so ``B`` stays positive definite.
Every linear layer acts per token, so one set of weights serves any ``d``; attention is over the
``d`` tokens (``O(d^2)`` memory per head, batched by ``scaled_dot_product_attention``).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
from torch import nn

from . import features as F
from . import preconditioner as P


@dataclass(frozen=True)
class OptimusConfig:
    """Architecture. Widths are ours (the paper does not state them); see MODEL_CARD.md."""

    mlp_hidden: int = 32
    d_model: int = 16
    heads: int = 2
    layers: int = 3
    ff: int = 32
    rank: int = 8
    beta_max: float = 4.0
    mag_scale: float = 0.5
    dir_scale: float = 0.01
    init_lr: float = 0.1


class Optimus(nn.Module):
    """Functional learned optimizer (see :mod:`phymo.optimizer.base` for the contract)."""

    def __init__(self, config: OptimusConfig = OptimusConfig()):
        super().__init__()
        c = self.config = config
        self.mlp = F.step_mlp(F.N_INPUTS, c.mlp_hidden)
        self.embed = nn.Linear(F.N_INPUTS + 1, c.d_model)
        self.encoder = nn.ModuleList(
            nn.TransformerEncoderLayer(c.d_model, c.heads, c.ff, dropout=0.0, batch_first=True, norm_first=True)
            for _ in range(c.layers))
        self.norm = nn.LayerNorm(c.d_model)
        self.u_head = nn.Linear(c.d_model, 1)
        self.beta_head = nn.Linear(c.d_model, 1)
        self.log_lr = nn.Parameter(torch.tensor(math.log(c.init_lr)))
        for head in (self.mlp[-1], self.beta_head):
            nn.init.zeros_(head.weight)
            nn.init.zeros_(head.bias)

    def arch(self) -> dict:
        """Architecture header stored with the weights."""
        return {"name": "optimus", **asdict(self.config)}

    def init_state(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Zero accumulators and ``B = I`` for a flat ``x`` ``(d,)``."""
        acc = F.init_accumulators(x)
        pre = P.init(x.shape[0], self.config.rank, x)
        return {**acc, **pre}

    def step(self, state: dict[str, torch.Tensor], x: torch.Tensor, g: torch.Tensor,
             loss: torch.Tensor | None = None) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        """One update: returns the new state and ``delta`` ``(d,)`` with ``x_new = x + delta``."""
        c = self.config
        acc = F.update_accumulators({k: state[k] for k in ("m", "v", "f", "t")}, g)
        tok = F.features(acc, g, x)
        out = self.mlp(tok)
        direction, mag = out[:, 0], out[:, 1]
        s = torch.exp((c.mag_scale * mag).clamp(max=5.0)) * (c.dir_scale * direction
                                                             + torch.exp(self.log_lr) * F.adam_direction(acc))
        s_n = s * torch.rsqrt(s.square().mean() + 1e-30)
        h = self.embed(torch.cat([tok, s_n[:, None]], 1))[None]
        for layer in self.encoder:
            h = layer(h)
        h = self.norm(h[0])
        u = self.u_head(h)[:, 0]
        beta = P.bound_beta(self.beta_head(h.mean(0))[0], c.rank, c.beta_max)
        pre = P.push({"U": state["U"], "beta": state["beta"]}, u, beta)
        delta = -P.apply(pre, s)
        return {**acc, **pre}, delta

    forward = step


def warm_start_from_adafac(net: Optimus, adafac: nn.Module, lr: float) -> Optimus:
    """Copy a trained Adafactor-MLP's MLP into Optimus's per-dimension branch; Adam base step ``lr``.

    Requires equal ``mlp_hidden``/``hidden``, ``mag_scale == exp_mult`` and ``dir_scale == step_mult``;
    the preconditioner heads stay zero, so the result steps like the Adafactor-MLP plus ``lr`` Adam.
    """
    ac = adafac.config
    if (ac.hidden, ac.exp_mult, ac.step_mult) != (net.config.mlp_hidden, net.config.mag_scale, net.config.dir_scale):
        raise ValueError("warm start needs matching MLP width, exp_mult/mag_scale and step_mult/dir_scale")
    net.mlp.load_state_dict(adafac.mlp.state_dict())
    with torch.no_grad():
        net.log_lr.fill_(math.log(lr))
    return net
