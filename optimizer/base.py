"""The functional contract of learned optimizers and the ``torch.optim.Optimizer`` adapter over it.

A learned optimizer is an ``nn.Module`` with

* ``init_state(x) -> state``: ``x`` is the flat parameter vector ``(d,)``; ``state`` a dict of tensors
  on ``x``'s device and dtype whose shapes depend only on ``d``;
* ``step(state, x, g, loss) -> (state, delta)``: pure (inputs are not mutated); the new parameter
  is ``x + delta``. Differentiable in the module's weights, which is what meta-training uses.

:class:`LearnedAdapter` wraps one for users: ``opt.step(closure)`` with ``closure`` returning the
loss after calling ``backward()``, exactly like ``torch.optim``. All parameters are flattened into
one vector (so ``d`` is the total parameter count). With ``device`` the network and its state live
there (e.g. CUDA) while the parameters stay where they are: the gradient goes over, the update comes
back, one vector copy each way per step. ``step_scale`` multiplies every update: learned optimizers
take steps of the size of their meta-training tasks, and a problem in other units (physics controls
normalized to [-1, 1]) sets it as it would a learning rate. A non-finite gradient or loss skips the step
with a warning and leaves parameters and optimizer state untouched.
"""

from __future__ import annotations

import copy
import warnings

import torch
from torch.nn.utils import parameters_to_vector, vector_to_parameters


class NonFiniteGradientWarning(RuntimeWarning):
    """A step was skipped because the gradient or loss contained NaN or inf."""


class LearnedAdapter(torch.optim.Optimizer):
    """``torch.optim``-style front for a learned optimizer module (weights frozen; runs on ``device``,
    by default the parameters' device)."""

    def __init__(self, params, net: torch.nn.Module, device: str | torch.device | None = None,
                 step_scale: float = 1.0):
        if not step_scale > 0:
            raise ValueError(f"step_scale must be positive, got {step_scale}")
        super().__init__(params, {})
        self.step_scale = float(step_scale)
        plist = self._params()
        self.device = torch.device(device) if device is not None else plist[0].device
        self.net = copy.deepcopy(net).to(device=self.device, dtype=plist[0].dtype).eval()
        for p in self.net.parameters():
            p.requires_grad_(False)
        self._fstate = self.net.init_state(parameters_to_vector(plist).detach().to(self.device))
        self.skipped_steps = 0

    def _params(self) -> list[torch.Tensor]:
        return [p for g in self.param_groups for p in g["params"]]

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        plist = self._params()
        g = torch.cat([(p.grad if p.grad is not None else torch.zeros_like(p)).reshape(-1) for p in plist])
        g = g.to(self.device)
        lval = torch.as_tensor(0.0 if loss is None else float(loss), dtype=g.dtype, device=g.device)
        if not (torch.isfinite(g).all() and torch.isfinite(lval)):
            self.skipped_steps += 1
            warnings.warn(f"{type(self.net).__name__}: non-finite gradient or loss, step skipped "
                          f"(optimizer state unchanged; {self.skipped_steps} skipped so far)",
                          NonFiniteGradientWarning, stacklevel=2)
            return loss
        x = parameters_to_vector(plist)
        new_state, delta = self.net.step(self._fstate, x.to(self.device), g, lval)
        if not torch.isfinite(delta).all():
            self.skipped_steps += 1
            warnings.warn(f"{type(self.net).__name__}: non-finite update, step skipped", NonFiniteGradientWarning,
                          stacklevel=2)
            return loss
        self._fstate = new_state
        vector_to_parameters(x + self.step_scale * delta.to(x.device), plist)
        return loss

    def functional_state(self) -> dict[str, torch.Tensor]:
        """The current functional state (for inspection and tests)."""
        return self._fstate
