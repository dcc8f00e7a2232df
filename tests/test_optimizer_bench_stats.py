"""Rows of the physics-optimizer comparison, checked on hand-made runs: targets from the L-BFGS reference,
windows that never reach it count as infinity, wins are strict, budgets truncate, intervals bracket."""

import math

import numpy as np
import pytest

from phymo.optimizer.bench_stats import Run, curves, median_ci, rows_for


def run(name, window, losses, dt=1.0, stopped="budget"):
    return Run(name, window, tuple(losses), tuple(dt * (k + 1) for k in range(len(losses))), stopped)


# two windows; the reference converges to 5.0 (reached at evaluation 4) and 2.0 (evaluation 3)
REF = [run("lbfgs_converged", "a", [10, 9, 9, 5, 5, 5], dt=2.0, stopped="converged"),
       run("lbfgs_converged", "b", [4, 3, 2, 2, 2], dt=2.0, stopped="converged")]
RUNS = {"optimus": [run("optimus", "a", [10, 6, 4.5, 7]), run("optimus", "b", [4, 2.9, 3, 2.5])],
        "adam": [run("adam", "a", [10, 8, 7, 6]), run("adam", "b", [4, 3, 2.5, 2.5])]}


def test_run_best_reaching_and_truncation():
    r = run("x", "w", [3.0, math.nan, 2.0, 2.5, 1.0])
    assert r.best().tolist() == [3.0, 3.0, 2.0, 2.0, 1.0] and r.final == 1.0 and r.initial == 3.0
    assert r.reaching(2.0) == (3.0, 3.0) and r.reaching(0.5) == (math.inf, math.inf)
    t = r.truncated(3)
    assert len(t.losses) == len(t.seconds) == 3 and t.final == 2.0 and t.stopped == "budget"
    assert run("x", "w", [1, 2], stopped="diverged").truncated(5).stopped == "diverged"


def test_rows_against_the_reference():
    rows = {r["optimizer"]: r for r in rows_for(RUNS, REF, budget=4)}
    opt, adam = rows["optimus"], rows["adam"]
    # optimus reaches 5.0 at evaluation 3 (4.5) on window a, never 2.0 on b: median of (3, inf) is inf
    assert opt["evals_to_lbfgs_final_median"] is None and opt["reached_lbfgs_final"] == 1
    assert opt["lbfgs_evals_median"] == 3.5 and opt["lbfgs_seconds_median"] == 7.0  # (4, 3) evals at 2 s each
    assert opt["loss_ratio_median"] == pytest.approx(np.median([4.5 / 10, 2.5 / 4]))
    assert opt["win_rate_vs_adam"] == 0.5  # 4.5 < 6 wins; 2.5 against 2.5 is a tie, not a win
    assert adam["win_rate_vs_adam"] is None and adam["windows"] == 2


def test_a_budget_truncates_every_run():
    rows = {r["optimizer"]: r for r in rows_for(RUNS, REF, budget=2)}
    # after 2 evaluations: optimus 6 vs adam 8, 2.9 vs 3: two wins
    assert rows["optimus"]["win_rate_vs_adam"] == 1.0
    assert rows["optimus"]["budget"] == 2 and rows["optimus"]["stopped"] == {"budget": 2}


def test_reference_row_reaches_its_own_final():
    (row,) = rows_for({"lbfgs_converged": REF}, REF, None)
    assert row["evals_to_lbfgs_final_median"] == row["lbfgs_evals_median"] == 3.5
    assert row["evals_fraction_of_lbfgs_median"] == 1.0 and row["win_rate_vs_adam"] is None


def test_median_interval_brackets_and_handles_infinity():
    mid, lo, hi = median_ci([1.0, 2.0, 3.0, 4.0, 100.0])
    assert mid == 3.0 and lo <= mid <= hi and lo >= 1.0 and hi <= 100.0
    mid, lo, hi = median_ci([1.0, math.inf, math.inf])
    assert mid == math.inf and hi == math.inf and lo == 1.0


def test_curves_are_medians_of_normalized_running_bests():
    c = curves({"optimus": RUNS["optimus"]})["optimus"]
    assert c["evaluations"] == [1, 2, 3, 4]
    assert c["loss_ratio_by_evaluation"] == pytest.approx([1.0, np.median([0.6, 0.725]), np.median([0.45, 0.725]),
                                                           np.median([0.45, 0.625])])
    assert c["loss_ratio_by_seconds"][0] == 1.0 and c["loss_ratio_by_seconds"][-1] == pytest.approx(0.5375)
