"""The optimizers on the same physics windows at the same evaluation budget (``phymo bench physics-optimizers``).

Windows: ``n`` windows of the reconstruction's length spread over the clips of a split of the mocap corpus
(:func:`~phymo.optimizer.physics_tasks.spread_windows`: an equal share per clip, evenly spaced starts), observations
synthesized with the fixed seed :data:`OBS_SEED`, each built by the reconstruction's own builder
(:meth:`phymo.physics.PreparedSequence.window`: refined reference, stance pins, the planner's execution as
the start). Every optimizer solves every window from that same start with
:func:`phymo.physics.refine` under an :class:`~phymo.optimizer.eval_budget.EvaluationBudget`, set up
as the reconstruction sets it up (:func:`phymo.optimizer.window_solver` of an
:class:`~phymo.optimizer.OptimizerConfig` with only the optimizer changed), in an order that rotates from
window to window so that changes in the machine's load fall on all of them alike.

L-BFGS runs once per window: at least the largest budget, then on until it converges
(:class:`~phymo.optimizer.eval_budget.Convergence`: less than 1e-4 relative progress over 30 evaluations)
or reaches ``lbfgs_cap`` evaluations. That run is the reference (``lbfgs_converged``: its best loss is the
target every optimizer is measured against), and its first ``budget`` evaluations are the ``lbfgs`` row at
that budget: a solve does not depend on how many evaluations follow, so the prefix is the budgeted run. A
trial point of its line search whose rollout diverges counts as an evaluation and is backtracked from (in
the reconstruction, :func:`~phymo.physics.refine` ends the solve at the first diverged rollout, which
stops L-BFGS at its first, too long, trial step); an iterate of the other optimizers that diverges ends
their solve, as in the reconstruction (the best iterate is kept). Smaller budgets are prefixes of the
largest one in the same way.
"""

from __future__ import annotations

import logging
import math
import warnings
from dataclasses import asdict, replace
from pathlib import Path

from .bench_stats import Run, curves, rows_for
from .eval_budget import Convergence, EvaluationBudget
from .physics_tasks import WindowSpec, split_windows

log = logging.getLogger(__name__)

#: the optimizers compared at the budget (L-BFGS's row is the prefix of its reference run)
COMPARED = ("optimus", "adam", "gd_momentum", "adafac_mlp", "lbfgs")
#: the logarithmic grid of each optimizer's step (what :data:`~phymo.optimizer.registry.TUNED_STEP` holds) that
#: :func:`tune` searches
GRID = {"adam": (3e-5, 1e-4, 3e-4, 1e-3), "gd_momentum": (1e-4, 3e-4, 1e-3, 3e-3),
        "lbfgs": (3e-4, 1e-3, 3e-3, 1e-2), "optimus": (3e-5, 1e-4, 3e-4, 1e-3), "adafac_mlp": (3e-5, 1e-4, 3e-4, 1e-3)}
#: the label of L-BFGS run to its own convergence
REFERENCE = "lbfgs_converged"
#: observation seed of every window (camera, noise, dropouts)
OBS_SEED = 0
#: the convergence rule of the reference run
CONVERGENCE = Convergence(patience=30, rtol=1e-4)
#: default cap on the reference run's evaluations
LBFGS_CAP = 200


def solve(problem, name: str, budget: int, convergence: Convergence | None = None, optimizer=None) -> Run:
    """Optimizer ``name`` on ``problem`` (a :class:`phymo.physics.WindowProblem`) for ``budget`` evaluations, set
    up as the reconstruction sets it up from ``optimizer`` (an :class:`~phymo.optimizer.OptimizerConfig`, default
    the reconstruction's; its name and steps are replaced); ``convergence`` may stop it earlier."""
    from phymo.physics import SimulationDiverged, Solver, one_thread, refine

    from .registry import OptimizerConfig, window_solver

    base = window_solver(replace(optimizer or OptimizerConfig(), name=name, steps=budget), device="cpu")
    made: list[EvaluationBudget] = []

    def make(x):
        made.append(EvaluationBudget(base.make(x), x, budget, convergence, SimulationDiverged,
                                     backtrack=name == "lbfgs"))
        return made[0]

    with one_thread(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        refine(problem, Solver(make, budget, base.name))  # each step makes at least one evaluation
    wrap = made[0]
    losses, seconds = zip(*wrap.log, strict=True)
    stopped = wrap.stopped or ("budget" if len(losses) >= budget else "steps")
    return Run(name, "", tuple(losses), tuple(seconds), stopped)


def run_window(problem, window: str, budget: int, lbfgs_cap: int, order: int = 0, optimizer=None) -> dict[str, Run]:
    """Every optimizer of :data:`COMPARED` on one window (with ``optimizer``, see :func:`solve`), plus the L-BFGS
    reference (``REFERENCE``); ``order`` rotates the order in which they run."""
    names = [n for n in COMPARED if n != "lbfgs"] + [REFERENCE]
    names = names[order % len(names):] + names[:order % len(names)]
    runs = {}
    for name in names:
        if name == REFERENCE:
            rule = Convergence(CONVERGENCE.patience, CONVERGENCE.rtol, after=budget)
            ref = solve(problem, "lbfgs", lbfgs_cap, rule)
            runs[REFERENCE] = Run(REFERENCE, window, ref.losses, ref.seconds, ref.stopped)
            runs["lbfgs"] = Run("lbfgs", window, ref.losses, ref.seconds, ref.stopped).truncated(budget)
        else:
            r = solve(problem, name, budget, optimizer=optimizer)
            runs[name] = Run(name, window, r.losses, r.seconds, r.stopped)
    return runs


def window_problems(windows: list[WindowSpec], physics, clips=None, skipped: list | None = None):
    """``(i, window, problem)`` for each of ``windows`` (observation seed :data:`OBS_SEED`), each problem closed once
    the loop moves on; a window whose planner diverges is left out and recorded in ``skipped`` with the reason.
    ``clips`` (a :class:`~phymo.optimizer.physics_tasks.PreparedClips`) holds the clips prepared for the windows;
    by default one at a time, as the windows come clip by clip
    (:func:`~phymo.optimizer.physics_tasks.spread_windows`)."""
    from phymo.physics import SimulationDiverged

    from .physics_tasks import PreparedClips

    clips = clips or PreparedClips(1)
    for i, w in enumerate(windows):
        try:
            problem = clips.get(w.path, OBS_SEED, physics).window(w.start, w.stop)
        except SimulationDiverged as e:
            if skipped is not None:
                skipped.append({"window": w.name, "reason": f"the planner's execution diverged: {e}"})
            continue
        try:
            yield i, w, problem
        finally:
            problem.close()


def measure(windows: list[WindowSpec], budget: int, lbfgs_cap: int, physics, optimizer=None, progress=log.info,
            clips=None):
    """Every window's runs (:func:`run_window`) as ``(runs per optimizer, skipped windows)``; a window whose
    planner or start diverges is skipped, with the reason. ``clips``: see :func:`window_problems`."""
    runs: dict[str, list[Run]] = {name: [] for name in (*COMPARED, REFERENCE)}
    skipped = []
    for i, w, problem in window_problems(windows, physics, clips, skipped):
        got = run_window(problem, w.name, budget, lbfgs_cap, order=i, optimizer=optimizer)
        if not math.isfinite(got[REFERENCE].initial):
            skipped.append({"window": w.name, "reason": "the start's rollout diverged"})
            continue
        for name, r in got.items():
            runs[name].append(r)
        progress(f"window {i + 1}/{len(windows)} {w.name}: " + ", ".join(
            f"{n} {r.final / r.initial:.4f} ({len(r.losses)} evals)" for n, r in got.items()))
    return runs, skipped


def summarize(runs: dict[str, list[Run]], budgets: tuple[int, ...]) -> dict:
    """``rows`` (per optimizer and budget, then the reference's), ``curves`` and every run of ``runs``."""
    runs = dict(runs)
    reference = runs.pop(REFERENCE)
    rows = [row for b in sorted(budgets) for row in rows_for(runs, reference, b)]
    rows += rows_for({REFERENCE: reference}, reference, None)
    shown = {name: rs for name, rs in runs.items() if name != "lbfgs"}  # its curve is the reference's prefix
    return {"rows": rows, "curves": curves({**shown, REFERENCE: reference}),
            "windows": [{"window": r.window, "optimizer": r.optimizer, "stopped": r.stopped, "losses": list(r.losses),
                         "seconds": list(r.seconds)} for rs in (*runs.values(), reference) for r in rs]}


def compare(root: str | Path, split: str = "test", windows: int = 40, budgets: tuple[int, ...] = (6,),
            lbfgs_cap: int = LBFGS_CAP, physics=None, optimizer=None, progress=log.info, clips=None) -> dict:
    """The comparison (module docstring): ``{"settings", "rows", "curves", "windows", "skipped"}``.

    ``rows``: one per optimizer and budget (:func:`~phymo.optimizer.bench_stats.rows_for`), then the
    reference's (``budget`` None); ``curves``: median loss ratio against evaluations and seconds at the
    largest budget; ``windows``: every run's losses and seconds; ``skipped``: windows that could not be
    simulated from their start. ``physics``: the physics settings (a :class:`~phymo.physics.ReconstructConfig`,
    default the reconstruction's); ``optimizer``: the optimizers' (an :class:`~phymo.optimizer.OptimizerConfig`,
    default the reconstruction's); ``clips``: where the windows' clips are prepared (see :func:`measure`).
    """
    from phymo.physics import ReconstructConfig, one_thread

    from .registry import OptimizerConfig

    physics, optimizer = physics or ReconstructConfig(), optimizer or OptimizerConfig()
    chosen = split_windows(root, split, windows, physics)
    with one_thread():
        runs, skipped = measure(chosen, max(budgets), lbfgs_cap, physics, optimizer, progress, clips)
    if not runs[REFERENCE]:
        from phymo.data.errors import PhymoError
        raise PhymoError(f"none of the {len(chosen)} windows of the {split!r} split could be simulated from its start")
    settings = {"root": str(root), "split": split, "windows": windows, "budgets": sorted(budgets),
                "lbfgs_cap": lbfgs_cap, "convergence": asdict(CONVERGENCE), "observation_seed": OBS_SEED,
                "window_frames": physics.windows.window, "optimizer_settings": asdict(optimizer),
                "steps": {n: replace(optimizer, name=n).resolved().step_setting() for n in COMPARED}}
    return {"settings": settings, **summarize(runs, budgets), "skipped": skipped}


def tune(root: str | Path, split: str = "validation", windows: int = 16, budget: int = 6,
         names: tuple[str, ...] = tuple(GRID), physics=None, progress=log.info) -> dict:
    """Each optimizer of ``names`` at every step of its :data:`GRID` on the same windows at ``budget``
    evaluations: ``{"settings", "rows", "chosen", "skipped"}``; a row per optimizer and step with the median best
    loss over the window's initial loss and its bootstrap interval; ``chosen``: the step of the lowest median
    (ties: the smaller step); ``skipped``: windows whose planner diverged. Choose on the validation split, then
    measure on the test split with :func:`compare`."""
    import numpy as np

    from phymo.physics import ReconstructConfig, one_thread

    from .bench_stats import median_ci
    from .registry import LEARNED, OptimizerConfig

    physics = physics or ReconstructConfig()
    unknown = [n for n in names if n not in GRID]
    if unknown:
        from phymo.data.errors import PhymoError
        raise PhymoError(f"no step grid for {', '.join(unknown)}; tunable: {', '.join(GRID)}")
    ratios: dict[tuple[str, float], list[float]] = {(n, v): [] for n in names for v in GRID[n]}
    chosen_windows, skipped = split_windows(root, split, windows, physics), []
    with one_thread():
        for i, w, problem in window_problems(chosen_windows, physics, skipped=skipped):
            for (name, value), got in ratios.items():
                key = "step_scale" if name in LEARNED else "lr"
                r = solve(problem, name, budget, optimizer=OptimizerConfig(name=name, **{key: value}))
                got.append(r.final / r.initial)
            progress(f"window {i + 1}/{len(chosen_windows)} {w.name}")
    rows, chosen = [], {}
    for name in names:
        scores = []
        for value in GRID[name]:
            med, lo, hi = median_ci(np.asarray(ratios[name, value]))
            rows.append({"optimizer": name, "step": value, "windows": len(ratios[name, value]),
                         "loss_ratio_median": med, "loss_ratio_ci95": [lo, hi]})
            scores.append((med, value))
        chosen[name] = min(scores)[1]
    settings = {"root": str(root), "split": split, "windows": windows, "budget": budget, "grid": GRID,
                "observation_seed": OBS_SEED, "window_frames": physics.windows.window}
    return {"settings": settings, "rows": rows, "chosen": chosen, "skipped": skipped}
