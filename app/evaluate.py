"""Evaluation orchestration: sequence jobs, sequential and Ray runners, streamed results, summary tables.

A dataset (:data:`phymo.app.eval_datasets.DATASETS`) lists :class:`SequenceSpec` jobs (small,
picklable) and turns one into a :class:`Sample`: observations carrying a kinematic initialization, plus
ground-truth world positions ``(T, J, 3)`` (metres, canonical joint order) and the joints the protocol
scores. One job reconstructs the sequence with physics and scores the kinematic initialization and the
physics result against ground truth. Each finished job is appended as one JSON line to
``OUT/sequences.jsonl`` at once, so a rerun skips sequences already finished; a job that raises is
recorded as failed, never aborts the run. ``OUT/summary.json`` and ``OUT/summary.md`` aggregate per
action (frames pooled) and overall (mean over actions), Human3.6M style
(:func:`phymo.data.metrics.protocol_by_action`).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import os
import time
import traceback
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

from phymo.app.eval_datasets import (  # noqa: F401 - re-exported: the evaluation API in one place
    DATASETS,
    EvalConfig,
    Sample,
    SequenceSpec,
    list_sequences,
    sequence_seed,
)
from phymo.data import metrics
from phymo.data.export import atomic_write_bytes, atomic_write_json
from phymo.data.skeleton import CANONICAL

log = logging.getLogger(__name__)

#: Summary metric keys: mm (position errors; accel in mm/frame^2), px (2D), share (foot skating), and the
#: plausibility figures of :class:`phymo.data.metrics.Plausibility` under the names it gives them.
METRICS = ("mpjpe", "pa_mpjpe", "mpjpe_g", "mpjpe_2d", "accel_error", "foot_skating", "floating_mm", "penetration_mm")
#: Physics-only per-sequence numbers kept in the records and averaged over sequences in the summary.
PHYSICS_EXTRAS = ("residual_force_n", "residual_force_p95_n", "residual_share", "steps", "evaluations", "wall_s",
                  "resolved_windows", "fallback_windows")
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


# ---- one sequence ---------------------------------------------------------------------------------

def score(pred: np.ndarray, sample: Sample, plausibility: dict) -> tuple[dict[str, float], dict[str, list[float]]]:
    """Metrics of world positions ``pred (T, J, 3)`` against the sample's ground truth, with ``plausibility``
    (:func:`phymo.data.metrics.plausibility` as a dict) of the whole motion.

    Returns sequence values (see :data:`METRICS` for units) and per-frame values of the four per-frame
    metrics (pooled per action in the summary).
    """
    j = sample.joints
    p, g = pred[:, j], sample.gt[:, j]
    cam = sample.obs.camera
    per_frame = {"mpjpe": metrics.mpjpe(p, g, per_frame=True) * 1000,
                 "pa_mpjpe": metrics.pa_mpjpe(p, g, per_frame=True) * 1000,
                 "mpjpe_g": metrics.mpjpe_global(p, g, per_frame=True) * 1000,
                 "mpjpe_2d": metrics.reprojection_error_px(cam.project(p), cam.project(g), per_frame=True)}
    values = {k: float(v.mean()) for k, v in per_frame.items()}
    values["accel_error"] = metrics.acceleration_error(p, g) * 1000
    values.update(plausibility)
    return values, {k: v.tolist() for k, v in per_frame.items()}


def _plausibility(positions: np.ndarray, fps: float, rec=None, residual: bool = False) -> dict:
    """:func:`phymo.data.metrics.plausibility` of canonical positions, with the physics body's standing heights
    and (``residual``) its residual force when ``rec`` is given."""
    kw = {} if rec is None else {"standing_heights": rec.standing_heights, "body_weight_n": rec.body_weight_n,
                                 "residual_force": rec.residual_force if residual else None}
    return dataclasses.asdict(metrics.plausibility(positions, fps, CANONICAL.names, **kw))


def _solver(optimizer, name: str | None = None):
    """The window solver of :class:`~phymo.optimizer.OptimizerConfig` ``optimizer`` (with optimizer ``name``)."""
    from phymo.optimizer import window_solver

    return window_solver(optimizer if name is None else dataclasses.replace(optimizer, optimizer=name), "cpu")


def _physics(sample: Sample, cfg: EvalConfig, cache: Path | None, reconstruct_fn):
    """Reconstruct with the configured optimizer: the result and its physics extras."""
    t0 = time.perf_counter()
    rec = reconstruct_fn(sample.obs, cfg.reconstruct, _solver(cfg.optimizer), cache_dir=cache)
    extras = {"wall_s": time.perf_counter() - t0, "steps": sum(w.steps for w in rec.windows),
              "evaluations": sum(len(w.trace) for w in rec.windows),
              "resolved_windows": sum(w.status.value == "re-solved" for w in rec.windows),
              "fallback_windows": sum(w.fell_back for w in rec.windows)}
    return rec, extras


def evaluate_sequence(spec: SequenceSpec, cfg: EvalConfig, cache_root: str | None = None,
                      reconstruct_fn=None) -> dict:
    """Evaluate one sequence: the record written to ``sequences.jsonl`` (raises on failure).

    ``reconstruct_fn`` defaults to :func:`phymo.physics.reconstruct` (tests inject others). With
    ``cfg.compare`` the named optimizers also run on the same windows (:func:`compare_on_windows`), traced
    under ``optimizers``.
    """
    if reconstruct_fn is None:
        from phymo.physics import reconstruct as reconstruct_fn
    t0 = time.perf_counter()
    sample = DATASETS[cfg.dataset][1](spec, cfg)
    fps = sample.obs.fps
    rec = {"id": spec.id, "action": spec.action, "status": "ok", "num_frames": sample.obs.num_frames,
           "fps": fps, "per_frame": {}}
    cache = None if cache_root is None else Path(cache_root) / _safe(spec.id) / cfg.optimizer.optimizer
    result, extras = _physics(sample, cfg, cache, reconstruct_fn)
    rec["kinematic"], rec["per_frame"]["kinematic"] = score(
        sample.obs.kinematic_positions(), sample, _plausibility(sample.obs.kinematic_positions(), fps, result))
    rec["ground_truth"] = _plausibility(sample.gt, fps, result)  # reference for the plausibility metrics
    pos = result.motion.positions()
    rec["physics"], rec["per_frame"]["physics"] = score(pos, sample, _plausibility(pos, fps, result, residual=True))
    rec["physics"].update(extras)
    if cfg.compare:
        rec["optimizers"] = {n: compare_on_windows(sample.obs, cfg.reconstruct, cfg.optimizer, n) for n in cfg.compare}
    rec["total_s"] = time.perf_counter() - t0
    return rec


def compare_on_windows(obs, reconstruct_config, optimizer, name: str) -> dict:
    """Optimizer ``name`` (with the step budget and sizes of :class:`~phymo.optimizer.OptimizerConfig`
    ``optimizer``) on every window of the sequence, each built by the reconstruction's window builder
    (:meth:`phymo.physics.PreparedSequence.window`) from the reference's state, so every optimizer sees the
    very same problems. Returns the steps, seconds and ``(window, evaluation, loss, seconds)`` events."""
    from phymo.physics import prepare, solve_window, window_starts

    seq, solver = prepare(obs, reconstruct_config), _solver(optimizer, name)
    w = reconstruct_config.windows
    events, steps, t0 = [], 0, time.perf_counter()
    for k, s in enumerate(window_starts(obs.num_frames, w.window, w.overlap)):
        problem = seq.window(s, min(s + w.window, obs.num_frames))
        try:
            sol = solve_window(problem, solver)
        finally:
            problem.close()
        steps += sol.steps
        events += [(k, t.evaluation - 1, t.loss, t.seconds) for t in sol.trace]
    return {"iterations": steps, "wall_s": time.perf_counter() - t0, "events": events}


def _safe(seq_id: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in seq_id)


def _job(spec: SequenceSpec, job_fn) -> dict:
    """Run one job, turning an exception into a failed record (so Ray retries only dead workers)."""
    try:
        return job_fn(spec)
    except Exception as e:  # noqa: BLE001 - a failed sequence is recorded, the run goes on
        log.warning("sequence %s failed: %s: %s", spec.id, type(e).__name__, e)
        return failed_record(spec, f"{type(e).__name__}: {e}", traceback.format_exc(limit=5))


def failed_record(spec: SequenceSpec, error: str, detail: str = "") -> dict:
    return {"id": spec.id, "action": spec.action, "status": "failed", "error": error, "detail": detail}


# ---- runners --------------------------------------------------------------------------------------

class SequentialRunner:
    """Jobs one after another in this process."""

    def run(self, specs: list[SequenceSpec], job_fn, on_result: Callable[[dict], None]) -> None:
        for spec in specs:
            on_result(_job(spec, job_fn))


class RayRunner:
    """Jobs as Ray tasks: a local ``ray.init`` with ``num_workers`` CPUs, or the cluster at ``address``.

    A task whose worker dies is retried up to ``max_retries`` times; after that it is recorded as
    failed. Results are handed to ``on_result`` as they complete.
    """

    def __init__(self, num_workers: int = 2, address: str | None = None, max_retries: int = 2) -> None:
        self.num_workers, self.address, self.max_retries = num_workers, address, max_retries

    def run(self, specs: list[SequenceSpec], job_fn, on_result: Callable[[dict], None]) -> None:
        import ray

        started = not ray.is_initialized()
        if started:
            if self.address:
                ray.init(address=self.address, log_to_driver=False)
            else:
                ray.init(num_cpus=self.num_workers, include_dashboard=False, log_to_driver=False,
                         runtime_env={"env_vars": {"OMP_NUM_THREADS": "1"}})
        try:
            task = ray.remote(num_cpus=1, max_retries=self.max_retries)(_job)
            pending = {task.remote(spec, job_fn): spec for spec in specs}
            while pending:
                done, _ = ray.wait(list(pending), num_returns=1)
                spec = pending.pop(done[0])
                try:
                    record = ray.get(done[0])
                except ray.exceptions.RayError as e:  # the worker died max_retries + 1 times
                    record = failed_record(spec, f"{type(e).__name__}: worker lost after {self.max_retries} retries",
                                           str(e)[:2000])
                on_result(record)
        finally:
            if started:
                ray.shutdown()


# ---- results --------------------------------------------------------------------------------------

def read_results(path: Path) -> dict[str, dict]:
    """Records of ``sequences.jsonl`` by id (later lines win); unreadable lines (a cut write) are skipped."""
    out = {}
    if path.exists():
        for n, line in enumerate(path.read_text().splitlines(), 1):
            try:
                r = json.loads(line)
                out[r["id"]] = r
            except (json.JSONDecodeError, KeyError, TypeError):
                log.warning("%s:%d: unreadable result line skipped", path, n)
    return out


def _append(path: Path, record: dict) -> None:
    with path.open("a") as f:
        f.write(json.dumps(record, default=_json_default) + "\n")
        f.flush()
        os.fsync(f.fileno())


def _json_default(o):
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"cannot serialise {type(o).__name__}")


def run_evaluation(cfg: EvalConfig, out: str | Path, runner=None, job_fn=None) -> dict:
    """Evaluate every sequence not yet finished in ``out``, then write the summary; returns it.

    ``job_fn(spec) -> record`` defaults to :func:`evaluate_sequence` with a window cache under ``out``.
    Finished records (status ok) in ``out/sequences.jsonl`` are kept and skipped; failed ones are retried.
    """
    specs = list_sequences(cfg)  # an empty selection fails here, before the output folder is made
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out / "config.json", dataclasses.asdict(cfg))
    results_path = out / "sequences.jsonl"
    done = {k for k, r in read_results(results_path).items() if r.get("status") == "ok"}
    todo = [s for s in specs if s.id not in done]
    log.info("%d sequences, %d already finished, %d to run", len(specs), len(specs) - len(todo), len(todo))
    job_fn = job_fn or functools.partial(evaluate_sequence, cfg=cfg, cache_root=str(out / "cache"))

    def on_result(record: dict) -> None:
        _append(results_path, record)
        status = record["status"] if record["status"] == "ok" else f"FAILED ({record['error']})"
        log.info("%s: %s", record["id"], status)

    (runner or SequentialRunner()).run(todo, job_fn, on_result)
    results = read_results(results_path)  # in the dataset's order, not the order jobs finished in: sums
    records = [results[s.id] for s in specs if s.id in results]  # over them come out the same either way
    summary = summarize(records)
    text = format_markdown(summary)
    if cfg.dataset == "h36m":
        summary["published"] = PUBLISHED_H36M
        text += "\n" + format_published(summary)
    if cfg.compare:
        summary["optimizers"] = compare_optimizers(records)
        atomic_write_json(out / "optimizers.json", summary["optimizers"])
        text += "\n" + format_comparison(summary["optimizers"])
    atomic_write_json(out / "summary.json", summary)
    atomic_write_bytes(out / "summary.md", text.encode())
    return summary


def format_published(summary: dict) -> str:
    """This run's MPJPE, global MPJPE and PA-MPJPE above the published Human3.6M numbers."""
    keys = ("mpjpe", "mpjpe_g", "pa_mpjpe")
    rows = [(f"phymo {kind} (this run)", summary[kind]) for kind in KINDS] + list(summary["published"].items())
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
    frames = sum(r["num_frames"] for r in ok)
    summary["ground_truth"] = {m: sum(r["ground_truth"][m] * r["num_frames"] for r in ok if "ground_truth" in r)
                               / max(frames, 1) for m in ("foot_skating", "floating_mm", "penetration_mm")}
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
