"""An optimizer held to a number of loss-and-gradient evaluations, optionally stopped at convergence.

Optimizers are compared per evaluation, not per step: L-BFGS's line search evaluates the loss several
times per step, Adam and the learned optimizers once. :class:`EvaluationBudget` wraps any optimizer with a
``torch.optim`` style ``step(closure)`` and counts the calls of ``closure`` that its inner optimizer makes:

* once ``budget`` evaluations are spent, or the :class:`Convergence` rule says the optimizer has stopped
  making progress, the next evaluation is refused: the inner step is abandoned there and every later
  ``step`` does nothing, so a solve records exactly the evaluations it was given;
* an evaluation at the very point evaluated last is served from memory (loss and gradient) and not
  counted. Our L-BFGS evaluates its iterate at the start of each step, which its line search has
  usually just evaluated; Adam and the learned optimizers never ask twice;
* an evaluation that raises ``diverged`` (a rollout that blew up) counts, is logged as ``inf``, and either
  ends the solve (the exception goes on: an iterate of Adam or of a learned optimizer diverged) or, with
  ``backtrack``, is answered with :data:`PENALTY` and a zero gradient: a trial point of a line search that
  went too far, which the search then backtracks from.

``log`` holds ``(loss, seconds since the wrapper was made)`` of every counted evaluation.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch

#: the loss a line search is told for a trial point whose rollout diverged (far above any window loss)
PENALTY = 1e12


@dataclass(frozen=True)
class Convergence:
    """Converged: the best loss fell by no more than ``rtol`` (relative) over the last ``patience`` evaluations,
    checked once at least ``after`` evaluations were made."""

    patience: int = 20
    rtol: float = 1e-4
    after: int = 0

    def reached(self, best: list[float]) -> bool:
        """Whether the running best losses ``best`` (one per evaluation) have converged."""
        if len(best) <= max(self.patience, self.after - 1):
            return False
        then, now = best[-1 - self.patience], best[-1]
        return math.isfinite(now) and then - now <= self.rtol * abs(now)


class _Refused(Exception):
    """The budget is spent or the optimizer converged: no more evaluations."""


class EvaluationBudget:
    """``step(closure)`` of ``inner`` (an optimizer over the one tensor ``x``) within ``budget`` evaluations.

    ``evaluations`` counts the evaluations made; ``stopped`` says why the solve stopped (``"budget"``,
    ``"converged"``, ``"diverged"``) or is ``""`` while it may go on. ``diverged`` is the exception type of a
    blown-up evaluation (the physics' ``SimulationDiverged``; the optimizer package does not import physics).
    """

    def __init__(self, inner, x: torch.Tensor, budget: int, convergence: Convergence | None = None,
                 diverged: type[Exception] = ArithmeticError, backtrack: bool = False):
        if budget < 1:
            raise ValueError(f"budget must be at least one evaluation, got {budget}")
        self.inner, self.x, self.budget, self.convergence = inner, x, budget, convergence
        self.diverged, self.backtrack = diverged, backtrack
        self.evaluations, self.stopped = 0, ""
        self.log: list[tuple[float, float]] = []
        self._best: list[float] = []
        self._memo: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None
        self._t0 = time.perf_counter()

    def step(self, closure: Callable[[], torch.Tensor]):
        if self.stopped:
            return None
        try:
            return self.inner.step(lambda: self._evaluate(closure))
        except _Refused:
            return None

    def _evaluate(self, closure: Callable[[], torch.Tensor]) -> torch.Tensor:
        if self._memo is not None and torch.equal(self._memo[0], self.x.detach()):
            self.x.grad = self._memo[2].clone()
            return self._memo[1]
        if self.evaluations >= self.budget:
            self.stopped = "budget"
        elif self.convergence is not None and self.convergence.reached(self._best):
            self.stopped = "converged"
        if self.stopped:
            raise _Refused
        self.evaluations += 1
        try:
            loss = closure()
        except self.diverged:
            self._record(math.inf)
            if not self.backtrack:
                self.stopped = "diverged"
                raise
            self.x.grad = torch.zeros_like(self.x)
            loss = torch.tensor(PENALTY, dtype=self.x.dtype)
        else:
            self._record(float(loss.detach()))
        self._memo = (self.x.detach().clone(), loss.detach(), self.x.grad.detach().clone())
        return loss

    def _record(self, value: float) -> None:
        value = value if math.isfinite(value) else math.inf
        self.log.append((value, time.perf_counter() - self._t0))
        self._best.append(min(value, self._best[-1]) if self._best else value)
