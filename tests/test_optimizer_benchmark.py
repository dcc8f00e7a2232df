"""Benchmark rows: their ranking on a problem whose answer is known, targets from L-BFGS, and a quick smoke run
(slow)."""

import statistics

import pytest
import torch

from phymo.optimizer import OPTIMIZERS
from phymo.optimizer import benchmark as B
from phymo.optimizer import tasks as T

KEYS = {"task", "dim", "optimizer", "final_loss_median", "iters_to_target", "ms_per_step"}


class Newton(torch.optim.Optimizer):
    """The exact Newton step of a quadratic: its Hessian from d + 1 gradients (exact for a quadratic), so one step
    lands on the minimiser."""

    def __init__(self, params):
        super().__init__(params, {})

    def step(self, closure):
        (x,) = self.param_groups[0]["params"]

        def gradient(at):
            with torch.no_grad():
                x.copy_(at)
            closure()
            return x.grad.detach().clone()

        start = x.detach().clone()
        g = gradient(start)
        hessian = torch.stack([gradient(start + e) - g for e in torch.eye(len(start), dtype=start.dtype)], dim=1)
        with torch.no_grad():
            x.copy_(start - torch.linalg.solve(hessian, g))


class Still(torch.optim.Optimizer):
    """Evaluates and never moves."""

    def __init__(self, params):
        super().__init__(params, {})

    def step(self, closure):
        closure()


def test_ranking_on_a_quadratic_whose_answer_is_known(monkeypatch):
    """On held-out quadratics (minimum 0 at the shift, condition number up to ~1e5), an exact Newton step reaches the
    minimum at the first iteration, an optimizer that never moves keeps the start's value and never reaches the
    target, and L-BFGS lies between: the rows must rank them so, with L-BFGS's final value as every target."""
    monkeypatch.setitem(OPTIMIZERS, "newton", Newton)
    monkeypatch.setitem(OPTIMIZERS, "still", Still)
    rows = B.compare(["quadratic"], 3, iters=12, seeds=2, optimizers=("still", "lbfgs", "newton"))
    assert [r["optimizer"] for r in rows] == ["still", "lbfgs", "newton"]
    assert all(KEYS <= set(r) and r["dim"] == 3 and r["ms_per_step"] > 0 for r in rows)
    by = {r["optimizer"]: r for r in rows}
    start = statistics.median(float(t.loss(t.x0)) for t in (T.make_task("quadratic", 3, T.HELD_OUT_SEED + s)
                                                             for s in range(2)))
    assert by["newton"]["iters_to_target"] == 1.0 and by["newton"]["final_loss_median"] < 1e-12 * start
    assert by["still"]["iters_to_target"] is None and by["still"]["final_loss_median"] == pytest.approx(start)
    assert 1.0 < by["lbfgs"]["iters_to_target"] <= 12 and by["lbfgs"]["final_loss_median"] < 1e-3 * start
    ranked = sorted(rows, key=lambda r: (r["iters_to_target"] or float("inf"), r["final_loss_median"]))
    assert [r["optimizer"] for r in ranked] == ["newton", "lbfgs", "still"]


def test_first_below():
    assert B.first_below([5.0, 3.0, 1.0], 3.0) == 1.0
    assert B.first_below([5.0], 1.0) == float("inf")


@pytest.mark.slow
def test_quick_benchmark_runs():
    rows = B.run(quick=True)
    assert {r["dim"] for r in rows} == {2, 10, 100}
