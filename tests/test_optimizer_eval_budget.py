"""An evaluation budget counts loss-and-gradient evaluations, not steps: exactly the budget, repeats served from
memory, a line search backtracks from a diverged trial, convergence stops early, budgets are prefixes."""

import pytest
import torch

from phymo.optimizer.classic import lbfgs
from phymo.optimizer.eval_budget import PENALTY, Convergence, EvaluationBudget


class Quadratic:
    """``sum(c x^2)`` with a call counter; raises ArithmeticError ("diverged") beyond ``limit``."""

    def __init__(self, x: torch.Tensor, limit: float = float("inf")):
        self.x, self.limit, self.calls = x, limit, 0
        self.c = torch.linspace(1.0, 30.0, x.numel(), dtype=x.dtype)

    def closure(self):
        self.calls += 1
        self.x.grad = None
        if self.x.detach().abs().max() > self.limit:
            raise ArithmeticError("diverged")
        loss = (self.c * self.x**2).sum()
        loss.backward()
        return loss


def solve(name: str, budget: int, steps: int, limit: float = float("inf"), convergence=None, backtrack=False,
          scale: float = 1.0):
    x = torch.linspace(-scale, scale, 8, dtype=torch.float64).requires_grad_(True)
    inner = lbfgs([x]) if name == "lbfgs" else torch.optim.Adam([x], lr=0.05)
    opt = EvaluationBudget(inner, x, budget, convergence, ArithmeticError, backtrack)
    q = Quadratic(x, limit)
    for _ in range(steps):
        opt.step(q.closure)
    return opt, q


@pytest.mark.parametrize("name", ["adam", "lbfgs"])
def test_exactly_the_budget_is_evaluated_however_many_steps_are_taken(name):
    opt, q = solve(name, budget=7, steps=50)
    assert opt.evaluations == q.calls == len(opt.log) == 7 and opt.stopped == "budget"
    assert all(b >= 0 for b in (s for _, s in opt.log)) and [s for _, s in opt.log] == sorted(s for _, s in opt.log)


def test_lbfgs_re_evaluation_of_its_iterate_is_served_from_memory():
    x = torch.linspace(-1.0, 1.0, 8, dtype=torch.float64).requires_grad_(True)
    plain, q_plain = lbfgs([x]), Quadratic(x)
    for _ in range(3):
        plain.step(q_plain.closure)
    opt, q = solve("lbfgs", budget=1000, steps=3)
    assert q.calls == opt.evaluations == q_plain.calls - 2  # every step but the first begins with a repeat
    assert torch.equal(opt.x, x)  # and the iterates are the same


def test_a_smaller_budget_is_a_prefix_of_a_larger_one():
    short, _ = solve("lbfgs", budget=5, steps=50)
    long, _ = solve("lbfgs", budget=12, steps=50)
    assert [v for v, _ in short.log] == [v for v, _ in long.log][:5]


def test_a_diverged_trial_is_backtracked_from_and_a_diverged_iterate_ends_the_solve():
    # |g| < 1, so L-BFGS's first trial is the step -g: far outside the region; it backtracks and goes on
    opt, q = solve("lbfgs", budget=15, steps=50, limit=0.05, backtrack=True, scale=0.01)
    losses = [v for v, _ in opt.log]
    assert losses[1] == float("inf") and opt.evaluations == q.calls == 15 and min(losses) < 0.1 * losses[0]
    assert PENALTY > 1e6 * losses[0]
    with pytest.raises(ArithmeticError):
        solve("lbfgs", budget=15, steps=50, limit=0.05, backtrack=False, scale=0.01)


def test_convergence_stops_after_the_minimum_and_before_the_budget():
    rule = Convergence(patience=5, rtol=1e-6, after=12)
    opt, _ = solve("lbfgs", budget=500, steps=500, convergence=rule)
    assert opt.stopped == "converged" and 12 <= opt.evaluations < 500
    assert not rule.reached([3.0, 2.0, 1.0]) and rule.reached([1.0] * 13)
    assert not Convergence(patience=2, rtol=0.1).reached([10.0, 5.0, 2.0])
