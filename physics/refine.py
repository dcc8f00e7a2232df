"""The gradient refinement of a window's plan: an injected optimizer on the window loss, and its trace.

physics/ never imports the optimizer package: it states what it needs of an optimizer (:class:`Optimizer`,
``torch.optim`` style) and takes a :class:`Solver` (:func:`phymo.optimizer.window_solver` makes the
product's). :func:`refine` runs the solver on a problem for a step budget and keeps the best iterate; the
trace records every loss evaluation, in the spirit of MuJoCo's ``minimize.py``.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import torch
from threadpoolctl import threadpool_limits

from .dynamics import SimulationDiverged

log = logging.getLogger(__name__)


class Optimizer(Protocol):
    """What a window needs of an optimizer: ``torch.optim`` style ``step(closure)`` over one tensor.

    ``closure()`` zeroes the gradient, evaluates the loss, back-propagates and returns the loss.
    ``torch.optim.Adam([x])`` and ``torch.optim.LBFGS([x])`` satisfy it; so does a learned optimizer.
    """

    def step(self, closure: Callable[[], torch.Tensor]) -> Any: ...


OptimizerFactory = Callable[[torch.Tensor], Optimizer]


class Problem(Protocol):
    """What :func:`refine` needs of a problem: a start and a differentiable loss with its named terms."""

    start: int
    x0: np.ndarray

    def loss(self, x: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]: ...


@dataclass(frozen=True)
class Solver:
    """How every window is refined: an optimizer factory, the optimizer steps per window and a name that
    identifies both with every setting that changes the result, the device included (CPU and CUDA agree only
    to about 1e-5): it keys the window cache and labels the reports. :func:`phymo.optimizer.window_solver`
    names it with :meth:`phymo.optimizer.OptimizerConfig.identity`."""

    make: OptimizerFactory
    steps: int
    name: str


@dataclass(frozen=True)
class IterLog:
    """One loss-and-gradient evaluation of a solve: its 1-based count, the loss, the gradient's norm and the
    seconds since the solve began."""

    evaluation: int
    loss: float
    grad_norm: float
    seconds: float


@dataclass(frozen=True)
class Solution:
    """The best iterate of a solve and its trace (``steps`` optimizer steps, ``len(trace)`` evaluations)."""

    x: np.ndarray
    loss: float
    terms: dict[str, float]
    trace: tuple[IterLog, ...]
    steps: int


@contextlib.contextmanager
def one_thread():
    """BLAS and torch on one thread. The arrays here are small, and a multi-threaded reduction sums in an
    order that depends on the thread count (Ray workers get 1); contact dynamics amplify the last-bit
    differences into different results, and every user of a window must see the same problem: building a
    window and refining it run under it."""
    torch_threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with threadpool_limits(limits=1, user_api="blas"):
            yield
    finally:
        torch.set_num_threads(torch_threads)


@one_thread()
def refine(problem: Problem, solver: Solver, steps: int | None = None) -> Solution:
    """``steps`` (default ``solver.steps``) optimizer steps from ``problem.x0``, each followed by clamping the
    variables to [-1, 1]; returns the best iterate, the last one included.

    A step whose rollout diverges ends the solve with the best iterate so far (the start is the first).
    Raises ``SimulationDiverged`` only when the start's own rollout does.
    """
    steps = solver.steps if steps is None else steps
    x = torch.tensor(problem.x0, requires_grad=True)
    opt = solver.make(x)
    best: dict = {"loss": np.inf}
    trace: list[IterLog] = []
    t0 = time.perf_counter()

    def keep(loss: float, terms: dict) -> None:
        if loss < best["loss"]:
            best.update(loss=loss, x=x.detach().numpy().copy(), terms=terms)

    def closure():
        x.grad = None
        loss, terms = problem.loss(x)
        loss.backward()
        value = float(loss.detach())
        trace.append(IterLog(len(trace) + 1, value, float(x.grad.norm()), time.perf_counter() - t0))
        keep(value, terms)
        return loss

    taken = 0
    try:
        for _ in range(steps):
            opt.step(closure)
            taken += 1
            with torch.no_grad():
                x.clamp_(-1.0, 1.0)
        with torch.no_grad():  # the last step's iterate (the start, for no steps), not evaluated by a closure
            value, terms = problem.loss(x)
        keep(float(value), terms)
    except SimulationDiverged as e:
        if "x" not in best:
            raise
        log.warning("window at frame %d: an optimizer step diverged (%s); keeping the best iterate", problem.start, e)
    return Solution(best["x"], best["loss"], best["terms"], tuple(trace), taken)
