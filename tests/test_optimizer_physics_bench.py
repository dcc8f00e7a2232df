"""``phymo bench physics-optimizers``: every optimizer gets exactly the budget's evaluations on the very same
windows, L-BFGS's budgeted row is the prefix of its run to convergence, and that run is the target."""

from pathlib import Path

import pytest
from _figures import closest, pixels_at

from phymo.app.benchmarks import physics_optimizers
from phymo.app.commands import cli
from phymo.app.render.plots import save
from phymo.data import atomic_write_json
from phymo.optimizer import physics_bench as PB
from phymo.optimizer.physics_tasks import split_files, spread_windows

BUDGETS, CAP = (2, 3), 8


def test_windows_spread_evenly_over_every_clip():
    clips = [(Path("a.bvh"), 100), (Path("b.bvh"), 40), (Path("c.bvh"), 10)]
    ws = spread_windows(clips, 7, 15)
    per_clip = {p: [w for w in ws if w.path == p] for p, _ in clips}
    assert [len(v) for v in per_clip.values()] == [3, 2, 1]  # 7 = 3 + 2 + 2, the short clip has one window
    assert [w.start for w in per_clip[Path("a.bvh")]] == [14, 42, 71]  # centres of thirds of 0..85
    assert all(w.stop - w.start == 15 for w in ws[:5]) and (ws[-1].start, ws[-1].stop) == (0, 10)


@pytest.fixture(scope="module")
def result(shared_data):
    """The comparison on 2 windows of the corpus's validation split, its physics settings and its prepared clips."""
    from phymo.optimizer.physics_tasks import PreparedClips
    from phymo.physics import ReconstructConfig, WindowConfig

    shared_data("bandai-namco-motiondataset")
    physics, clips = ReconstructConfig(windows=WindowConfig(window=6, overlap=2)), PreparedClips()
    return PB.compare(shared_data(), "validation", windows=2, budgets=BUDGETS, lbfgs_cap=CAP, physics=physics,
                      progress=lambda _s: None, clips=clips), physics, clips


def test_every_optimizer_gets_exactly_the_budget_from_the_same_start(result):
    res, _, _ = result
    runs = {(w["optimizer"], w["window"]): w for w in res["windows"]}
    windows = sorted({w for _, w in runs})
    assert len(windows) == 2 and not res["skipped"]
    for w in windows:
        ref = runs["lbfgs_converged", w]
        assert max(BUDGETS) <= len(ref["losses"]) <= CAP
        for name in PB.COMPARED:
            r = runs[name, w]
            assert len(r["losses"]) == len(r["seconds"]) == max(BUDGETS) or r["stopped"] == "diverged"
            assert r["losses"][0] == ref["losses"][0]  # the same window, the same start
        assert runs["lbfgs", w]["losses"] == ref["losses"][:max(BUDGETS)]


def test_budgeted_lbfgs_is_the_prefix_of_its_converging_run_and_settings_reach_the_optimizers(result, shared_data):
    res, physics, clips = result
    from phymo.optimizer import OptimizerConfig
    from phymo.optimizer.registry import TUNED_STEP

    name = next(w["window"] for w in res["windows"])
    path = next(p for p in split_files(shared_data(), "validation") if p.stem == name.split("@")[0])
    start = int(name.split("@")[1])
    problem = clips.get(path, PB.OBS_SEED, physics).window(start, start + physics.windows.window)
    try:
        alone = PB.solve(problem, "lbfgs", max(BUDGETS))
        smaller = PB.solve(problem, "optimus", 2, optimizer=OptimizerConfig(step_scale=TUNED_STEP["optimus"] / 3))
    finally:
        problem.close()
    ref = next(w for w in res["windows"] if w["window"] == name and w["optimizer"] == "lbfgs_converged")
    assert list(alone.losses) == ref["losses"][:max(BUDGETS)]
    # the optimizers' settings reach them: another step scale, another second iterate
    default = next(w for w in res["windows"] if w["window"] == name and w["optimizer"] == "optimus")
    assert smaller.losses[0] == default["losses"][0] and smaller.losses[1] != default["losses"][1]


def test_rows_compare_with_the_reference_and_the_figure_is_drawn(result, tmp_path):
    res, _, _ = result
    rows = res["rows"]
    assert [(r["optimizer"], r["budget"]) for r in rows] == \
        [(n, b) for b in BUDGETS for n in PB.COMPARED] + [("lbfgs_converged", None)]
    ref = rows[-1]
    assert ref["evals_to_lbfgs_final_median"] == ref["lbfgs_evals_median"] and ref["loss_ratio_median"] <= 1.0
    for r in rows[:-1]:
        assert r["lbfgs_evals_median"] == ref["lbfgs_evals_median"] and r["windows"] == 2
    printed = physics_optimizers.table(rows)
    assert printed[-1]["budget"] == "converged" and printed[-1]["wins vs Adam"] == "-"
    fig = physics_optimizers.figure(res)
    save(fig, tmp_path / "curves.png")
    # the saved pixels: L-BFGS's run past the budgets (no other curve goes there) in its colour, on white
    by_eval = fig.axes[0]
    line = next(ln for ln in by_eval.lines if ln.get_label() == "L-BFGS to convergence")
    (x0, y0), (x1, y1) = line.get_xydata()[-2:]
    assert x0 > max(BUDGETS)
    middle = by_eval.transData.inverted().transform(by_eval.transData.transform([(x0, y0), (x1, y1)]).mean(axis=0))
    assert closest(pixels_at(tmp_path / "curves.png", by_eval, *middle), line.get_color()) < 0.1
    above = by_eval.transData.inverted().transform(by_eval.transData.transform(middle) + (0, 40))
    assert closest(pixels_at(tmp_path / "curves.png", by_eval, *above, reach=0), "white") < 0.01
    atomic_write_json(tmp_path / "result.json", res)  # strict JSON: NaN and inf as null


@pytest.mark.parametrize("argv, message", [
    (["--budget", "5", "--lbfgs-cap", "3"], "--lbfgs-cap 3 is below the largest --budget 5"),
    (["--windows", "0"], "--windows and every --budget must be at least 1"),
    (["--json", "out.txt"], "ending in .json"),
])
def test_bad_options_fail_in_one_line_before_any_work(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert cli.main(["bench", "physics-optimizers", *argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("phymo bench: error: ") and message in err[0]


def test_step_search_scores_every_grid_step_and_chooses_the_lowest(shared_data, monkeypatch):
    """``phymo bench optimizer-steps``: every step of an optimizer's grid on the same window, each row the solve
    that optimizer makes at that step, and the chosen step the one of the lowest median loss ratio."""
    from phymo.optimizer import OptimizerConfig
    from phymo.optimizer.physics_tasks import PreparedClips
    from phymo.physics import ReconstructConfig, WindowConfig, one_thread

    physics = ReconstructConfig(windows=WindowConfig(window=6, overlap=2))
    monkeypatch.setitem(PB.GRID, "adam", (1e-5, 3e-4, 0.3))
    res = PB.tune(shared_data(), "validation", windows=1, budget=3, names=("adam",), physics=physics,
                  progress=lambda _s: None)
    rows = {r["step"]: r for r in res["rows"]}
    assert sorted(rows) == [1e-5, 3e-4, 0.3] and all(r["windows"] == 1 for r in rows.values())
    assert res["chosen"]["adam"] == min(rows, key=lambda v: rows[v]["loss_ratio_median"])
    w = PB.split_windows(shared_data(), "validation", 1, physics)[0]
    with one_thread():  # as the search runs: the kinematic fit's sums differ in their last bits with the threads
        problem = PreparedClips(1).get(w.path, PB.OBS_SEED, physics).window(w.start, w.stop)
        try:
            alone = PB.solve(problem, "adam", 3, optimizer=OptimizerConfig(name="adam", lr=3e-4))
        finally:
            problem.close()
    assert rows[3e-4]["loss_ratio_median"] == alone.final / alone.initial
