"""Evaluation orchestration: sequence jobs, sequential and Ray runners, streamed results.

A dataset (:data:`phymo.app.eval_datasets.DATASETS`) lists :class:`SequenceSpec` jobs (small,
picklable) and turns one into a :class:`Sample`: observations carrying a kinematic initialization, plus
ground-truth world positions ``(T, J, 3)`` (metres, canonical joint order) and the joints the protocol
scores. One job reconstructs the sequence with physics and scores the kinematic initialization and the
physics result against ground truth. Each finished job is appended as one JSON line to
``OUT/sequences.jsonl`` at once, so a rerun skips sequences already finished; a job that raises is
recorded as failed, never aborts the run. ``OUT/summary.json`` and ``OUT/summary.md`` aggregate per
action (frames pooled) and overall (mean over actions), Human3.6M style (:mod:`phymo.app.eval_summary`).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import os
import time
import traceback
from collections.abc import Callable
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
from phymo.app.eval_summary import (  # noqa: F401 - re-exported: the evaluation API in one place
    KINDS,
    METRICS,
    PHYSICS_EXTRAS,
    PUBLISHED_H36M,
    compare_optimizers,
    format_comparison,
    format_markdown,
    format_published,
    summarize,
)
from phymo.data import metrics
from phymo.data.export import atomic_write_bytes, atomic_write_json
from phymo.data.skeleton import CANONICAL, FOOT_JOINTS
from phymo.physics.reconstruct import ReconstructConfig

log = logging.getLogger(__name__)


# ---- optimizers -----------------------------------------------------------------------------------

def optimizer_factory(name: str, config: ReconstructConfig):
    """A factory ``tensor -> Optimizer`` for registry name ``name``, with the reconstruction's step
    settings, so that the evaluation optimizes exactly as ``phymo reconstruct`` does."""
    from phymo.optimizer.registry import optimizer_factory as registry_factory

    return registry_factory(name, lr=config.lr, step_scale=config.learned_step_scale)


class _Trace:
    """Wraps an optimizer factory; records ``(window, evaluation, loss, seconds)`` per loss evaluation."""

    def __init__(self, factory) -> None:
        self.factory, self.events, self.steps, self.window = factory, [], 0, -1

    def __call__(self, x):
        self.window += 1
        return _TracedOptimizer(self.factory(x), self, self.window, time.perf_counter())


class _TracedOptimizer:
    def __init__(self, inner, trace: _Trace, window: int, t0: float) -> None:
        self.inner, self.trace, self.window, self.t0, self.count = inner, trace, window, t0, 0

    def step(self, closure):
        def traced():
            loss = closure()
            self.trace.events.append((self.window, self.count, float(loss.detach()), time.perf_counter() - self.t0))
            self.count += 1
            return loss

        self.trace.steps += 1
        return self.inner.step(traced)


# ---- one sequence ---------------------------------------------------------------------------------

def score(pred: np.ndarray, sample: Sample, cfg: EvalConfig) -> tuple[dict[str, float], dict[str, list[float]]]:
    """Metrics of world positions ``pred (T, J, 3)`` against the sample's ground truth.

    Returns sequence values (see :data:`METRICS` for units; with ``sample.align_frames`` also ``mpjpe_cam``,
    the global error before alignment, mm) and per-frame values of the four per-frame metrics (pooled per
    action in the summary).
    """
    j = sample.joints
    p, g = pred[:, j], sample.gt[:, j]
    if sample.pelvis_from_hips:  # the truth's root is the hips' midpoint: so is the prediction's
        p = p.copy()
        p[:, 0] = pred[:, [CANONICAL.index("left_hip"), CANONICAL.index("right_hip")]].mean(axis=1)
    cam = sample.obs.camera
    per_frame = {"mpjpe": metrics.mpjpe(p, g, per_frame=True) * 1000,
                 "pa_mpjpe": metrics.pa_mpjpe(p, g, per_frame=True) * 1000,
                 "mpjpe_g": (metrics.mpjpe_first_aligned(p, g, sample.align_frames, per_frame=True)
                             if sample.align_frames else metrics.mpjpe_global(p, g, per_frame=True)) * 1000,
                 "mpjpe_2d": np.linalg.norm(cam.project(p) - cam.project(g), axis=-1).mean(axis=-1)}
    values = {k: float(v.mean()) for k, v in per_frame.items()}
    if sample.align_frames:
        values["mpjpe_cam"] = metrics.mpjpe_global(p, g) * 1000
    values["accel_error"] = metrics.acceleration_error(p, g) * 1000
    values.update(plausibility(pred, sample.obs.fps, cfg))
    return values, {k: v.tolist() for k, v in per_frame.items()}


def plausibility(pred: np.ndarray, fps: float, cfg: EvalConfig) -> dict[str, float]:
    """Foot skating (share of frame transitions) and penetration (mean depth, mm) of ``pred (T, J, 3)``."""
    feet = [CANONICAL.index(f) for f in FOOT_JOINTS]
    heights = [cfg.foot_contact_height[0 if "ankle" in f else 1] for f in FOOT_JOINTS]
    return {"foot_skating": metrics.foot_skating(pred, fps, feet, heights, cfg.skate_speed).skating_ratio,
            "penetration": metrics.penetration(pred).mean_depth * 1000}


def _body(obs, rc: ReconstructConfig):
    """The humanoid :func:`phymo.physics.reconstruct.reconstruct` would build (built here to read its gears)."""
    from phymo.physics.reconstruct import fitted_body

    return fitted_body(obs.kinematic, rc.body, rc.fit_ankle)


def _physics(sample: Sample, cfg: EvalConfig, name: str, cache: Path | None, reconstruct_fn):
    """Reconstruct with optimizer ``name``: the physics positions ``(T, J, 3)`` and its physics extras."""
    rc = cfg.reconstruct
    body = _body(sample.obs, rc)
    trace = _Trace(optimizer_factory(name, rc))
    t0 = time.perf_counter()
    rec = reconstruct_fn(sample.obs, rc, optimizer=trace, cache_dir=cache, body=body)
    extras = {"wall_s": time.perf_counter() - t0, "iterations": trace.steps, "evaluations": len(trace.events),
              "fallback_windows": sum(bool(w["fallback"]) for w in rec.windows),
              "residual_force": float(np.nanmean(rec.residual_force)) if np.isfinite(rec.residual_force).any()
              else float("nan")}
    return rec.motion.positions(), extras, trace


def evaluate_sequence(spec: SequenceSpec, cfg: EvalConfig, cache_root: str | None = None,
                      reconstruct_fn=None, work_root: str | None = None) -> dict:
    """Evaluate one sequence: the record written to ``sequences.jsonl`` (raises on failure).

    ``reconstruct_fn`` defaults to :func:`phymo.physics.reconstruct.reconstruct` (tests inject others);
    a dataset that runs the whole pipeline itself (multiview) brings its physics result in the sample
    and writes that run under ``work_root/<id>``. With several optimizers the first one's result is
    scored, and all of them are run on the same independent windows (:func:`compare_on_windows`) and
    traced under ``optimizers``.
    """
    if reconstruct_fn is None:
        from phymo.physics.reconstruct import reconstruct as reconstruct_fn
    t0 = time.perf_counter()
    work = None if work_root is None else Path(work_root) / _safe(spec.id)
    sample = DATASETS[cfg.dataset][1](spec, cfg, work)
    rec = {"id": spec.id, "action": spec.action, "status": "ok", "num_frames": sample.obs.num_frames,
           "fps": sample.obs.fps, "per_frame": {}}
    rec["kinematic"], rec["per_frame"]["kinematic"] = score(sample.obs.kinematic_positions(), sample, cfg)
    if sample.gt_on_ground:  # reference for the plausibility metrics
        rec["ground_truth"] = plausibility(sample.gt, sample.obs.fps, cfg)
    name = cfg.optimizers[0]
    if sample.physics is None:
        cache = None if cache_root is None else Path(cache_root) / _safe(spec.id) / name
        pos, extras, _ = _physics(sample, cfg, name, cache, reconstruct_fn)
    else:
        pos, extras = sample.physics, sample.physics_extras
    rec["physics"], rec["per_frame"]["physics"] = score(pos, sample, cfg)
    rec["physics"].update(extras)
    if sample.info:
        rec["info"] = sample.info
    if len(cfg.optimizers) > 1:
        rec["optimizers"] = {n: compare_on_windows(sample.obs, cfg.reconstruct, n) for n in cfg.optimizers}
    rec["total_s"] = time.perf_counter() - t0
    return rec


def compare_on_windows(obs, rc: ReconstructConfig, name: str) -> dict:
    """Optimizer ``name`` on every window of the sequence, each started from the kinematic state.

    Windows do not warm-start from the previous window's result here, so every optimizer sees the very
    same problems. Returns the iteration count, seconds and ``(window, evaluation, loss, seconds)`` events.
    """
    from phymo.physics.reconstruct import reconstruct_window, window_starts

    body, trace = _body(obs, rc), _Trace(optimizer_factory(name, rc))
    t0 = time.perf_counter()
    for s in window_starts(obs.num_frames, rc.window, rc.overlap):
        reconstruct_window(body, obs.slice(s, min(s + rc.window, obs.num_frames)), rc, None, None, trace)
    return {"iterations": trace.steps, "wall_s": time.perf_counter() - t0, "events": trace.events}


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
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out / "config.json", dataclasses.asdict(cfg))
    results_path = out / "sequences.jsonl"
    specs = list_sequences(cfg)
    done = {k for k, r in read_results(results_path).items() if r.get("status") == "ok"}
    todo = [s for s in specs if s.id not in done]
    log.info("%d sequences, %d already finished, %d to run", len(specs), len(specs) - len(todo), len(todo))
    job_fn = job_fn or functools.partial(evaluate_sequence, cfg=cfg, cache_root=str(out / "cache"),
                                         work_root=str(out / "runs"))

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
    if cfg.dataset == "multiview":
        from .multiview import format_cameras

        text += "\n" + format_cameras(records)
    if len(cfg.optimizers) > 1:
        summary["optimizers"] = compare_optimizers(records)
        atomic_write_json(out / "optimizers.json", summary["optimizers"])
        text += "\n" + format_comparison(summary["optimizers"])
    atomic_write_json(out / "summary.json", summary)
    atomic_write_bytes(out / "summary.md", text.encode())
    return summary
