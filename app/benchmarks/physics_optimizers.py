"""``phymo bench physics-optimizers``: the command's checks, its printed table and its figure.

The comparison itself is :func:`phymo.optimizer.physics_bench.compare`; this module turns the command's
options into it (user errors as :class:`~phymo.data.errors.PhymoError`), condenses the rows into the
printed table (each median with its bootstrap 95 % interval) and draws the curves next to the JSON file.
"""

from __future__ import annotations

from pathlib import Path

from matplotlib.figure import Figure

from phymo.app.render.plots import save
from phymo.data import PhymoError

#: printed columns: label -> the row's median (its interval is the ``_ci95`` field of the same stem)
COLUMNS = {
    "evals to L-BFGS final": "evals_to_lbfgs_final_median",
    "L-BFGS evals": "lbfgs_evals_median",
    "s to L-BFGS final": "seconds_to_lbfgs_final_median",
    "L-BFGS s": "lbfgs_seconds_median",
    "final/initial loss": "loss_ratio_median",
    "wins vs Adam": "win_rate_vs_adam",
}


def run(quick: bool = False, root: Path | None = None, split: str = "test", windows: int = 40,
        budget: list[int] | None = None, lbfgs_cap: int | None = None) -> dict:
    """The comparison's result (see :func:`~phymo.optimizer.physics_bench.compare`) with a ``table`` to print.

    ``budget`` defaults to the reconstruction's steps per window; every optimizer takes its tuned step
    (:data:`~phymo.optimizer.registry.TUNED_STEP`, chosen by ``phymo bench optimizer-steps`` on the validation
    split); ``quick`` takes 2 windows, 3 evaluations and a cap of 8 unless given."""
    from phymo.data import data_root
    from phymo.optimizer import OptimizerConfig
    from phymo.optimizer.physics_bench import LBFGS_CAP, compare

    if quick:
        windows, budget, lbfgs_cap = min(windows, 2), budget or [3], lbfgs_cap or 8
    budget = budget or [OptimizerConfig().steps]
    lbfgs_cap = lbfgs_cap or LBFGS_CAP
    if windows < 1 or min(budget) < 1:
        raise PhymoError(f"--windows and every --budget must be at least 1, got {windows} and {budget}")
    if lbfgs_cap < max(budget):
        raise PhymoError(f"--lbfgs-cap {lbfgs_cap} is below the largest --budget {max(budget)}: the L-BFGS "
                         f"reference runs at least the budget")
    result = compare(root or data_root(), split, windows, tuple(budget), lbfgs_cap)
    return {**result, "table": table(result["rows"])}


def _cell(row: dict, key: str) -> str:
    def f(v):
        return "never" if v is None else f"{v:.3g}"
    lo, hi = row[key.removesuffix("_median") + "_ci95"]
    return f"{f(row[key])} [{f(lo)}, {f(hi)}]"


def table(rows: list[dict]) -> list[dict]:
    """The rows as printed: optimizer, budget (``converged`` for the reference), windows, and each median with
    its interval; ``never``: at least half the windows never reach L-BFGS's converged loss."""
    return [{"optimizer": r["optimizer"], "budget": "converged" if r["budget"] is None else r["budget"],
             "windows": r["windows"],
             **{label: ("-" if r[key] is None and key == "win_rate_vs_adam" else _cell(r, key))
                for label, key in COLUMNS.items()}} for r in rows]


def figure(result: dict) -> Figure:
    """Median over windows of the best loss over the window's initial loss, against loss-and-gradient
    evaluations and against seconds, per optimizer (L-BFGS: its run to convergence; the budget dotted)."""
    fig = Figure(figsize=(11, 4.2))
    by_eval, by_time = fig.subplots(1, 2, sharey=True)
    for name, c in result["curves"].items():
        label = "L-BFGS to convergence" if name == "lbfgs_converged" else name
        by_eval.plot(c["evaluations"], c["loss_ratio_by_evaluation"], label=label)
        by_time.plot(c["seconds"], c["loss_ratio_by_seconds"], label=label)
    for b in result["settings"]["budgets"]:
        by_eval.axvline(b, color="0.6", linestyle=":", linewidth=1)
    s = result["settings"]
    by_eval.set(xscale="log", xlabel="loss-and-gradient evaluations", ylabel="best loss / initial loss (median)",
                title=f"{len(result['curves']['lbfgs_converged']['evaluations'])} evals max, "
                      f"{s['split']} split, {result['rows'][0]['windows']} windows")
    by_time.set(xscale="log", xlabel="seconds", title="against wall time")
    by_eval.legend()
    fig.tight_layout()
    return fig


def plot(result: dict, path: Path) -> None:
    """:func:`figure` of ``result`` as a PNG at ``path``."""
    save(figure(result), path)


def tune(quick: bool = False, root: Path | None = None, split: str = "validation", windows: int = 16,
         budget: int | None = None, optimizers: list[str] | None = None) -> dict:
    """Each optimizer's step on its grid (:func:`phymo.optimizer.physics_bench.tune`), with the chosen one
    marked in the printed table; ``quick`` takes 1 window and 2 evaluations."""
    from phymo.data import data_root
    from phymo.optimizer import OptimizerConfig
    from phymo.optimizer.physics_bench import GRID
    from phymo.optimizer.physics_bench import tune as search

    if quick:
        windows, budget = 1, budget or 2
    budget = budget or OptimizerConfig().steps
    if windows < 1 or budget < 1:
        raise PhymoError(f"--windows and --budget must be at least 1, got {windows} and {budget}")
    result = search(root or data_root(), split, windows, budget, tuple(optimizers or GRID))
    shown = [{"optimizer": r["optimizer"], "step": f"{r['step']:g}", "windows": r["windows"],
              "final/initial loss": _cell(r, "loss_ratio_median"),
              "chosen": "*" if result["chosen"][r["optimizer"]] == r["step"] else ""} for r in result["rows"]]
    return {**result, "table": shown}
