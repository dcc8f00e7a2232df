"""Benchmark rows: keys, targets from L-BFGS, and a quick smoke run (slow)."""

import pytest

from phymo.optimizer import benchmark as B

KEYS = {"task", "dim", "optimizer", "final_loss_median", "iters_to_target", "ms_per_step"}


def test_compare_rows_have_the_contract_keys():
    rows = B.compare(["quadratic"], 3, iters=20, seeds=2, optimizers=("adam", "lbfgs", "optimus"))
    assert [r["optimizer"] for r in rows] == ["adam", "lbfgs", "optimus"]
    for r in rows:
        assert KEYS <= set(r) and r["dim"] == 3 and r["ms_per_step"] > 0
    lb = rows[1]
    assert lb["iters_to_target"] is not None and lb["iters_to_target"] <= 20


def test_first_below():
    assert B.first_below([5.0, 3.0, 1.0], 3.0) == 1.0
    assert B.first_below([5.0], 1.0) == float("inf")


@pytest.mark.slow
def test_quick_benchmark_runs():
    rows = B.run(quick=True)
    assert {r["dim"] for r in rows} == {2, 10, 100}
