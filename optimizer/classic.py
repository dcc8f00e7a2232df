"""Classic baselines behind the ``torch.optim`` interface: Adam, gradient descent with momentum,
L-BFGS (strong Wolfe), and dense BFGS (strong Wolfe, ``d <= 4096``).

L-BFGS is ours rather than ``torch.optim.LBFGS``: driven one iteration per ``step`` call the latter
stalls for good after a failed line search (seen on rotated Dixon-Price/Levy), ours restarts.

``step(closure)``: ``closure`` zeroes gradients, computes the loss, calls ``backward()`` and returns
the loss (the usual ``torch.optim`` closure). One ``step`` is one iteration; line-search methods may
call the closure several times per iteration.
"""

from __future__ import annotations

import torch
from torch.nn.utils import parameters_to_vector, vector_to_parameters
from torch.optim.lbfgs import _strong_wolfe

MAX_BFGS_DIM = 4096


def adam(params, lr: float = 0.01) -> torch.optim.Optimizer:
    return torch.optim.Adam(params, lr=lr)


def gd_momentum(params, lr: float = 1e-3, momentum: float = 0.9) -> torch.optim.Optimizer:
    return torch.optim.SGD(params, lr=lr, momentum=momentum)


def lbfgs(params, history: int = 10, lr: float | None = None) -> torch.optim.Optimizer:
    return LBFGS(params, history=history, lr=lr)


class _QuasiNewton(torch.optim.Optimizer):
    """Strong-Wolfe line search along ``-H g``; subclasses store ``H`` (``_direction``/``_update``/``_reset``).

    If the direction is not a descent direction or the line search makes no progress, ``H`` is
    reset to a scaled identity (steepest descent restart) instead of stalling.
    """

    def __init__(self, params):
        super().__init__(params, {})
        self._plist = [p for g in self.param_groups for p in g["params"]]

    def _grad(self):
        return torch.cat([(p.grad if p.grad is not None else torch.zeros_like(p)).reshape(-1) for p in self._plist])

    @torch.no_grad()
    def step(self, closure):
        x = parameters_to_vector(self._plist).clone()
        with torch.enable_grad():
            loss = float(torch.as_tensor(closure()).detach())
        g = self._grad().clone()
        if not torch.isfinite(g).all():
            return loss
        d = self._direction(g)
        if d is None or float(g @ d) > -1e-20:           # no curvature yet or not descent: restart
            self._reset(g)
            d = self._direction(g)

        def obj(xv, t, dv):
            vector_to_parameters(xv + t * dv, self._plist)
            with torch.enable_grad():
                f = float(torch.as_tensor(closure()).detach())
            return f, self._grad().clone()

        f_new, g_new, t, _ = _strong_wolfe(obj, x, 1.0, d, loss, g, float(g @ d))
        if not (f_new < loss):                           # line search failed: restart, keep x
            vector_to_parameters(x, self._plist)
            self._reset(g)
            return loss
        s = t * d
        vector_to_parameters(x + s, self._plist)
        y = g_new - g
        if float(s @ y) > 1e-10:
            self._update(s, y)
        return f_new


class BFGS(_QuasiNewton):
    """Dense BFGS on the inverse Hessian ``H`` ``(d, d)``, ``d <= MAX_BFGS_DIM``."""

    def __init__(self, params):
        super().__init__(params)
        d = sum(p.numel() for p in self._plist)
        if d > MAX_BFGS_DIM:
            raise ValueError(f"dense BFGS stores a {d}x{d} matrix; use lbfgs for d > {MAX_BFGS_DIM}")
        self.H = None

    def _reset(self, g):
        self.H = torch.eye(g.numel(), dtype=g.dtype, device=g.device) / max(float(g.norm()), 1.0)

    def _direction(self, g):
        return None if self.H is None else -(self.H @ g)

    def _update(self, s, y):
        rho = 1.0 / float(s @ y)
        hy = self.H @ y
        self.H = self.H - rho * (torch.outer(s, hy) + torch.outer(hy, s)) + (rho * rho * float(y @ hy) + rho) \
            * torch.outer(s, s)


class LBFGS(_QuasiNewton):
    """Limited-memory BFGS (two-loop recursion over the last ``history`` pairs), ``O(history d)``.

    ``lr``: the length of the first trial step (and of the first after a restart) along ``-g``; by default
    ``min(1, 1/|g|)`` times the gradient's length. A problem whose loss is smooth only over a small radius
    (a physics window: about 3e-3 rad, docs/results.md) sets it, or the line search spends its first
    evaluations shrinking a far too long step."""

    def __init__(self, params, history: int = 10, lr: float | None = None):
        super().__init__(params)
        if lr is not None and not lr > 0:
            raise ValueError(f"lr must be positive, got {lr}")
        self.history, self.pairs, self.gamma, self.lr = history, [], None, lr

    def _reset(self, g):
        norm = float(g.norm())
        self.pairs = []
        self.gamma = 1.0 / max(norm, 1.0) if self.lr is None else self.lr / max(norm, 1e-300)

    def _direction(self, g):
        if self.gamma is None:
            return None
        q, alphas = g.clone(), []
        for s, y, rho in reversed(self.pairs):
            a = rho * float(s @ q)
            q -= a * y
            alphas.append(a)
        q *= self.gamma
        for (s, y, rho), a in zip(self.pairs, reversed(alphas), strict=True):
            q += (a - rho * float(y @ q)) * s
        return -q

    def _update(self, s, y):
        self.pairs = [*self.pairs[-(self.history - 1):], (s, y, 1.0 / float(s @ y))]
        self.gamma = float(s @ y) / float(y @ y)
