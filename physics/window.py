"""One window's optimization problem, how it is solved, and what the solve returns.

A :class:`WindowProblem` is the window loss (:func:`phymo.physics.loss.window_loss`) of the rollout of
control knots ``(K, nu)`` (normalized to [-1, 1]), differentiable through the adjoint, with the knots of
the tracking pass as the starting point. It is made by one builder,
:meth:`phymo.physics.sequence.PreparedSequence.window`, for the reconstruction, the evaluation's optimizer
comparison, the benchmarks and meta-training alike. :func:`solve_window` runs an optimizer on it for a
step budget and keeps the best iterate; the trace it returns records every loss evaluation, in the
spirit of MuJoCo's ``minimize.py``.
"""

from __future__ import annotations

import contextlib
import enum
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import torch
from threadpoolctl import threadpool_limits

from .adjoint import Simulator, differentiable_rollout
from .loss import LossWeights, WindowTargets, window_loss
from .simulate import SimulationDiverged

log = logging.getLogger(__name__)


class Optimizer(Protocol):
    """What a window needs of an optimizer: ``torch.optim`` style ``step(closure)`` over one tensor.

    ``closure()`` zeroes the gradient, evaluates the loss, back-propagates and returns the loss.
    ``torch.optim.Adam([x])`` and ``torch.optim.LBFGS([x])`` satisfy it; so does a learned optimizer.
    """

    def step(self, closure: Callable[[], torch.Tensor]) -> Any: ...


OptimizerFactory = Callable[[torch.Tensor], Optimizer]


@dataclass(frozen=True)
class Solver:
    """How every window is optimized: an optimizer factory, the optimizer steps per window and a name that
    identifies both with the optimizer's settings (it keys the window cache and labels the reports).
    :func:`phymo.optimizer.window_solver` makes the one for an :class:`~phymo.optimizer.OptimizerConfig`."""

    make: OptimizerFactory
    steps: int
    name: str


class WindowStatus(enum.Enum):
    """What became of a window."""

    OPTIMIZED = "optimized"  #: solved on the first attempt
    RESOLVED = "re-solved"  #: the first attempt fell or diverged; a later attempt was kept (``reason`` says why)
    FELL_BACK = "fell back"  #: no attempt was kept: the kinematic estimate stands in (``reason`` says why)


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

    knots: np.ndarray
    loss: float
    terms: dict[str, float]
    trace: tuple[IterLog, ...]
    steps: int


@dataclass
class WindowProblem:
    """The optimization problem of frames ``[start, stop)`` of a sequence (see the module docstring).

    ``state0`` is the start state in the tangent convention of :func:`differentiable_rollout` (zero
    position offset from ``qpos0``, then the velocity); ``reference_positions (F, J, 3)`` is what the
    simulated joints are held against to tell a fall. Call :meth:`close` when done (it stops the
    Jacobian threads).
    """

    start: int
    stop: int
    sim: Simulator
    qpos0: np.ndarray
    state0: torch.Tensor
    targets: WindowTargets
    weights: LossWeights
    knots0: np.ndarray
    reference_positions: np.ndarray

    def loss(self, knots: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        """The window loss of the rollout of ``knots`` and its unweighted terms; raises ``SimulationDiverged``."""
        pos = differentiable_rollout(self.sim, self.qpos0, self.state0, knots)
        return window_loss(pos, knots, self.targets, self.weights)

    def rollout(self, knots: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
        """Per frame ``qpos (F, nq)``, ``qvel (F, nv)``, torques ``(F, nu)`` (N m, N) of the rollout of
        ``knots``, and its mean joint distance from the reference, metres. Raises ``SimulationDiverged``."""
        sim, s = self.sim, self.sim.substeps
        positions = sim.run(self.qpos0, self.state0.numpy(), knots)
        frames = np.arange(self.stop - self.start)
        ctrl = sim.last["ctrl"][np.minimum(frames * s, len(sim.last["ctrl"]) - 1)]
        deviation = np.linalg.norm(positions - self.reference_positions, axis=-1).mean()
        return sim.last["qpos"][::s], sim.last["qvel"][::s], ctrl * sim.body.gear, float(deviation)

    def close(self) -> None:
        self.sim.close()


@contextlib.contextmanager
def one_thread():
    """BLAS and torch on one thread. The arrays here are small, and a multi-threaded reduction sums in an
    order that depends on the thread count (Ray workers get 1); contact dynamics amplify the last-bit
    differences into different results, and every user of a window must see the same problem: building a
    window (:meth:`~phymo.physics.PreparedSequence.window`) and solving it (:func:`solve_window`) run under it."""
    torch_threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with threadpool_limits(limits=1, user_api="blas"):
            yield
    finally:
        torch.set_num_threads(torch_threads)


@one_thread()
def solve_window(problem: WindowProblem, solver: Solver, steps: int | None = None) -> Solution:
    """``steps`` (default ``solver.steps``) optimizer steps from the tracking pass's knots, each followed by
    clamping the knots to [-1, 1]; returns the best iterate, the last one included.

    A step whose rollout diverges ends the solve with the best iterate so far (the tracking pass's knots are
    the first). Raises ``SimulationDiverged`` only when the tracking pass's own rollout does.
    """
    steps = solver.steps if steps is None else steps
    knots = torch.tensor(problem.knots0, requires_grad=True)
    opt = solver.make(knots)
    best: dict = {"loss": np.inf}
    trace: list[IterLog] = []
    t0 = time.perf_counter()

    def keep(loss: float, terms: dict) -> None:
        if loss < best["loss"]:
            best.update(loss=loss, knots=knots.detach().numpy().copy(), terms=terms)

    def closure():
        knots.grad = None
        loss, terms = problem.loss(knots)
        loss.backward()
        value = float(loss.detach())
        trace.append(IterLog(len(trace) + 1, value, float(knots.grad.norm()), time.perf_counter() - t0))
        keep(value, terms)
        return loss

    taken = 0
    try:
        for _ in range(steps):
            opt.step(closure)
            taken += 1
            with torch.no_grad():
                knots.clamp_(-1.0, 1.0)
        with torch.no_grad():  # the last step's iterate, not evaluated by any closure yet
            value, terms = problem.loss(knots)
        keep(float(value), terms)
    except SimulationDiverged as e:
        if "knots" not in best:
            raise
        log.warning("window at frame %d: an optimizer step diverged (%s); keeping the best iterate", problem.start, e)
    return Solution(best["knots"], best["loss"], best["terms"], tuple(trace), taken)
