"""Evaluation summaries: per-action and overall tables, kinematic beside physics, and optimizer comparisons.

:func:`summarize` aggregates the per-sequence records of :mod:`.run` per action (frames
pooled) and overall (mean over actions), Human3.6M style (:func:`phymo.data.metrics.protocol_by_action`);
the ``format_*`` functions turn summaries into the Markdown of ``summary.md``.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from phymo.app.outputs import window_count_fields
from phymo.data import metrics

#: Summary metric keys: mm (position errors; accel in mm/frame^2), px (2D), share (foot skating), and the
#: plausibility figures of :class:`phymo.data.metrics.Plausibility` under the names it gives them.
METRICS = ("mpjpe", "pa_mpjpe", "mpjpe_g", "mpjpe_2d", "accel_error", "foot_skating", "floating_mm", "penetration_mm")
#: Physics-only per-sequence numbers kept in the records and averaged over sequences in the summary.
PHYSICS_EXTRAS = ("reference_mpjpe", "residual_force_n", "residual_force_p95_n", "residual_share", "steps",
                  "evaluations", "wall_s", *window_count_fields(()))
KINDS = ("kinematic", "physics")

#: Published Human3.6M numbers (mm) to read beside an ``h36m`` evaluation's (protocol on S9 and S11 unless
#: the name says otherwise); a method reports only some of the metrics.
PUBLISHED_H36M = {
    "DiffPhy (Gärtner et al., CVPR 2022)": {"mpjpe": 81.7, "mpjpe_g": 139.1, "pa_mpjpe": 55.6},
    "physics trajectory optimization (Gärtner et al., CVPR 2022)": {"mpjpe": 84.0, "mpjpe_g": 143.0,
                                                                     "pa_mpjpe": 56.0},
    "Optimus (Gärtner et al., CVPR 2023), its in-domain trajectory-optimization split": {"mpjpe_g": 24.0},
    "Adafactor-MLP, same split (reported by the Optimus paper)": {"mpjpe_g": 33.0},
}


def h36m_report(records: list[dict], summary: dict) -> tuple[dict, str]:
    """What a Human3.6M evaluation adds to its summary: the published numbers (``published``) and a table of this
    run's beside them."""
    return {"published": PUBLISHED_H36M}, "\n" + format_published(summary)


def format_published(summary: dict) -> str:
    """This run's MPJPE, global MPJPE and PA-MPJPE above the published Human3.6M numbers."""
    keys = ("mpjpe", "mpjpe_g", "pa_mpjpe")
    rows = [(f"phymo {kind} (this run)", summary[kind]) for kind in KINDS] + list(PUBLISHED_H36M.items())
    lines = ["| method | MPJPE | global MPJPE | PA-MPJPE |", "|---|---|---|---|"]
    lines += [f"| {name} | " + " | ".join(_or_dash(v.get(k), "{:.1f}") for k in keys) + " |" for name, v in rows]
    return "\n".join(lines) + "\n"


def format_comparison(comparison: dict) -> str:
    """Markdown table of :func:`compare_optimizers`: summed best window loss at 1, 25%, 50% and all evaluations."""
    lines = ["| optimizer | windows | steps | evals per window (max) | loss @1 | loss @25% | loss @50% | final loss "
             "| seconds | evals to L-BFGS final | seconds to L-BFGS final |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, c in comparison.items():
        curve, n = c["loss_vs_evaluation"], len(c["loss_vs_evaluation"])
        at = [f"{curve[max(0, int(np.ceil(f * n)) - 1)]:.4g}" if n else "-" for f in (0.0, 0.25, 0.5)]
        lines.append(f"| {name} | {c['windows']} | {c['iterations']} | {n} | {' | '.join(at)} | "
                     f"{c['final_loss']:.4g} | {c['wall_s']:.1f} | {_or_dash(c.get('evaluations_to_lbfgs'))} | "
                     f"{_or_dash(c.get('seconds_to_lbfgs'), '{:.1f}')} |")
    return "\n".join(lines) + "\n"


def _or_dash(v, fmt: str = "{}") -> str:
    return "-" if v is None else fmt.format(v)


def summarize(records: Iterable[dict]) -> dict:
    """``{"kinematic": {...}, "physics": {...}, "sequences": [...], "failed": [...]}``.

    Per kind: each :data:`METRICS` key overall (mean over actions of frame-pooled means), and
    ``per_action``; physics also has :data:`PHYSICS_EXTRAS` (sequence means).
    """
    records = list(records)
    ok = [r for r in records if r.get("status") == "ok"]
    summary = {"kinematic": {}, "physics": {}, "count": {"ok": len(ok), "failed": len(records) - len(ok)}}
    for kind in KINDS:
        per_action: dict[str, dict] = {}
        for m in METRICS if ok else ():
            pairs = [(r["action"], np.asarray(r["per_frame"][kind][m]) if m in r["per_frame"][kind]
                      else np.full(r["num_frames"], r[kind][m])) for r in ok]
            res = metrics.protocol_by_action(pairs)
            summary[kind][m] = res.mean
            for a, v in res.per_action.items():
                per_action.setdefault(a, {})[m] = v
        summary[kind]["per_action"] = per_action
    grounded = [r for r in ok if "ground_truth" in r]
    if grounded:
        frames = sum(r["num_frames"] for r in grounded)
        summary["ground_truth"] = {m: sum(r["ground_truth"][m] * r["num_frames"] for r in grounded) / frames
                                   for m in ("foot_skating", "floating_mm", "penetration_mm")}
    for m in PHYSICS_EXTRAS:
        vals = [r["physics"][m] for r in ok if m in r["physics"] and np.isfinite(r["physics"][m])]
        summary["physics"][m] = float(np.mean(vals)) if vals else float("nan")
    summary["sequences"] = [{k: v for k, v in r.items() if k not in ("per_frame", "optimizers")} for r in records]
    summary["failed"] = [{"id": r["id"], "error": r.get("error", "")} for r in records if r.get("status") != "ok"]
    return summary


def format_markdown(summary: dict) -> str:
    """Per-action and overall table, kinematic and physics side by side, then the failures."""
    head = "| action | " + " | ".join(f"{m} kin | {m} phys" for m in METRICS) + " |"
    lines = ["Units: mm (mpjpe, pa_mpjpe, mpjpe_g, floating_mm, penetration_mm), px (mpjpe_2d), mm/frame^2 "
             "(accel_error), share of frame transitions (foot_skating).", "", head,
             "|" + "---|" * (1 + 2 * len(METRICS))]
    kin, phy = summary["kinematic"], summary["physics"]
    for a in kin["per_action"]:
        cells = [f"{kin['per_action'][a][m]:.1f} | {phy['per_action'][a][m]:.1f}" if "skating" not in m else
                 f"{kin['per_action'][a][m]:.3f} | {phy['per_action'][a][m]:.3f}" for m in METRICS]
        lines.append(f"| {a} | " + " | ".join(cells) + " |")
    if "mpjpe" in kin:
        cells = [f"**{kin[m]:.1f}** | **{phy[m]:.1f}**" if "skating" not in m
                 else f"**{kin[m]:.3f}** | **{phy[m]:.3f}**" for m in METRICS]
        lines.append("| **all** | " + " | ".join(cells) + " |")
    gt = summary.get("ground_truth", {})
    if gt:
        lines += ["", f"Ground truth itself: foot_skating {gt['foot_skating']:.3f}, floating "
                  f"{gt['floating_mm']:.1f} mm, penetration {gt['penetration_mm']:.1f} mm"]
    lines += ["", "Physics: " + ", ".join(f"{m} {phy[m]:.4g}" for m in PHYSICS_EXTRAS) + " (means per sequence)",
              f"Sequences: {summary['count']['ok']} ok, {summary['count']['failed']} failed"]
    lines += [f"- FAILED {f['id']}: {f['error']}" for f in summary["failed"]]
    return "\n".join(lines) + "\n"


def compare_optimizers(records: Iterable[dict]) -> dict:
    """Per optimizer: summed best-so-far window loss against evaluation index and against seconds.

    Every optimizer ran on the same sequences with the same windows; for evaluation ``k`` the curve
    sums, over all windows of all sequences, the lowest loss seen in that window up to ``k`` (a
    window that stopped earlier contributes its final best). With ``lbfgs`` among them, each also gets
    the evaluations and seconds it needed to reach L-BFGS's final loss (``None``: never).
    """
    per_opt: dict[str, list] = {}
    for r in records:
        for name, tr in r.get("optimizers", {}).items():
            per_opt.setdefault(name, []).append((r["id"], tr))
    out = {}
    for name, runs in per_opt.items():
        windows = {}
        for sid, tr in runs:
            for w, k, loss, sec in tr["events"]:
                windows.setdefault((sid, w), []).append((k, loss, sec))
        n = max((len(v) for v in windows.values()), default=0)
        curve = np.zeros(n)
        seconds = np.zeros(n)
        for ev in windows.values():
            best = np.minimum.accumulate([e[1] for e in ev])
            curve += np.concatenate([best, np.full(n - len(best), best[-1])])
            t = [e[2] for e in ev]
            seconds += np.concatenate([t, np.full(n - len(t), t[-1])])
        out[name] = {"loss_vs_evaluation": curve.tolist(), "seconds_vs_evaluation": seconds.tolist(),
                     "final_loss": float(curve[-1]) if n else float("nan"),
                     "wall_s": float(sum(tr["wall_s"] for _, tr in runs)),
                     "iterations": int(sum(tr["iterations"] for _, tr in runs)), "windows": len(windows)}
    if "lbfgs" in out:
        target = out["lbfgs"]["final_loss"] * (1 + 1e-9)
        for c in out.values():
            hit = np.flatnonzero(np.asarray(c["loss_vs_evaluation"]) <= target)
            c["evaluations_to_lbfgs"] = int(hit[0]) + 1 if hit.size else None
            c["seconds_to_lbfgs"] = c["seconds_vs_evaluation"][hit[0]] if hit.size else None
    return out
