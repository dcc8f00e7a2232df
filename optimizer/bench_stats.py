"""Statistics of the physics-optimizer comparison: runs, medians with bootstrap intervals, rows and curves.

A :class:`Run` is one optimizer's solve of one window: the loss of every evaluation and the seconds at
which it finished. Everything is measured on the *running best* (the reconstruction keeps the best
iterate). A window on which an optimizer never reaches the target counts as ``inf`` evaluations and
seconds, so a median over windows is ``inf`` (``None`` in the rows) when at least half never reach it;
the bootstrap resamples windows with replacement and reads its 2.5 % and 97.5 % order statistics, which
are ``inf`` (``None``) in the same way.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

#: bootstrap resamples of every interval, and their fixed seed
BOOTSTRAP = 2000
BOOTSTRAP_SEED = 0


@dataclass(frozen=True)
class Run:
    """One solve: ``losses[k]`` and ``seconds[k]`` of evaluation ``k + 1`` (the first is the start's loss)."""

    optimizer: str
    window: str
    losses: tuple[float, ...]
    seconds: tuple[float, ...]
    stopped: str  #: "budget" (spent), "converged", "diverged" (a rollout blew up and ended the solve) or "steps"

    def best(self, evals: int | None = None) -> np.ndarray:
        """Running best loss over the first ``evals`` evaluations (non-finite losses count as ``inf``)."""
        v = np.asarray(self.losses[:evals], dtype=float)
        return np.minimum.accumulate(np.where(np.isfinite(v), v, np.inf))

    def truncated(self, evals: int) -> Run:
        """This run as if it had been given ``evals`` evaluations (the prefix of its trace)."""
        return Run(self.optimizer, self.window, self.losses[:evals], self.seconds[:evals],
                   "budget" if len(self.losses) > evals else self.stopped)

    @property
    def initial(self) -> float:
        return self.losses[0]

    @property
    def final(self) -> float:
        """The best loss of the run."""
        return float(self.best()[-1])

    def reaching(self, target: float) -> tuple[float, float]:
        """Evaluations and seconds until the running best is ``<= target`` (``inf`` if never)."""
        hit = np.flatnonzero(self.best() <= target)
        return (math.inf, math.inf) if hit.size == 0 else (float(hit[0] + 1), float(self.seconds[hit[0]]))


def median_ci(values, stat=np.median) -> tuple[float, float, float]:
    """``stat`` of ``values`` (default the median) and its bootstrap 95 % interval, order statistics only."""
    v = np.asarray(values, dtype=float)
    rng = np.random.default_rng(BOOTSTRAP_SEED)
    boot = np.sort([stat(v[rng.integers(0, len(v), len(v))]) for _ in range(BOOTSTRAP)])
    return float(stat(v)), float(boot[int(0.025 * BOOTSTRAP)]), float(boot[int(0.975 * BOOTSTRAP) - 1])


def _finite(x: float) -> float | None:
    return x if math.isfinite(x) else None


def _put(row: dict, name: str, values, stat=np.median) -> None:
    mid, lo, hi = median_ci(values, stat)
    row[name] = _finite(mid)
    row[name.removesuffix("_median") + "_ci95"] = [_finite(lo), _finite(hi)]


def rows_for(runs: dict[str, list[Run]], reference: list[Run], budget: int | None) -> list[dict]:
    """One row per optimizer in ``runs`` (each list in the windows' order), its runs truncated to ``budget``
    evaluations (None: as they are), compared with the L-BFGS ``reference`` runs to convergence of the same
    windows. ``win_rate_vs_adam`` (the share of windows ending strictly below Adam) is None in Adam's row and
    without ``runs["adam"]``."""
    targets = [r.final for r in reference]
    ref_hits = [r.reaching(t) for r, t in zip(reference, targets, strict=True)]
    cut = {name: [r if budget is None else r.truncated(budget) for r in rs] for name, rs in runs.items()}
    adam = [r.final for r in cut["adam"]] if "adam" in cut else None
    ref_evals, ref_seconds = {}, {}  # the same in every row
    _put(ref_evals, "lbfgs_evals_median", [h[0] for h in ref_hits])
    _put(ref_seconds, "lbfgs_seconds_median", [h[1] for h in ref_hits])
    rows = []
    for name, rs in cut.items():
        hits = [r.reaching(t) for r, t in zip(rs, targets, strict=True)]
        row = {"optimizer": name, "budget": budget, "windows": len(rs)}
        _put(row, "evals_to_lbfgs_final_median", [h[0] for h in hits])
        row.update(ref_evals)
        _put(row, "seconds_to_lbfgs_final_median", [h[1] for h in hits])
        row.update(ref_seconds)
        _put(row, "evals_fraction_of_lbfgs_median", [h[0] / g[0] for h, g in zip(hits, ref_hits, strict=True)])
        _put(row, "seconds_fraction_of_lbfgs_median", [h[1] / g[1] for h, g in zip(hits, ref_hits, strict=True)])
        _put(row, "loss_ratio_median", [r.final / r.initial for r in rs])
        if adam is None or name == "adam":
            row["win_rate_vs_adam"], row["win_rate_vs_adam_ci95"] = None, [None, None]
        else:
            _put(row, "win_rate_vs_adam", [float(r.final < a) for r, a in zip(rs, adam, strict=True)], np.mean)
        row["reached_lbfgs_final"] = sum(math.isfinite(h[0]) for h in hits)
        row["stopped"] = {why: sum(r.stopped == why for r in rs) for why in sorted({r.stopped for r in rs})}
        rows.append(row)
    return rows


def curves(runs: dict[str, list[Run]], points: int = 60) -> dict[str, dict[str, list[float]]]:
    """Per optimizer, the median over windows of the running best over the window's initial loss, against
    evaluations (1, 2, ...: a run that stopped early keeps its last value) and against seconds (a shared
    log-spaced grid; 1 before a run's first evaluation finished)."""
    t_all = np.concatenate([np.asarray(r.seconds) for rs in runs.values() for r in rs])
    grid = np.geomspace(max(float(t_all.min()), 1e-3), float(t_all.max()), points)
    out = {}
    for name, rs in runs.items():
        n = max(len(r.losses) for r in rs)
        by_eval = np.array([np.pad(r.best() / r.initial, (0, n - len(r.losses)), mode="edge") for r in rs])
        by_time = []
        for r in rs:
            idx = np.searchsorted(np.asarray(r.seconds), grid, side="right") - 1
            by_time.append(np.where(idx >= 0, (r.best() / r.initial)[np.maximum(idx, 0)], 1.0))
        out[name] = {"evaluations": list(range(1, n + 1)), "loss_ratio_by_evaluation": np.median(by_eval, 0).tolist(),
                     "seconds": grid.tolist(), "loss_ratio_by_seconds": np.median(by_time, 0).tolist()}
    return out
