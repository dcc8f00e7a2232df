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
from phymo.data import CANONICAL, atomic_write_bytes, atomic_write_json, metrics

log = logging.getLogger(__name__)


# ---- one sequence ---------------------------------------------------------------------------------

def score(pred: np.ndarray, sample: Sample, plausibility: dict) -> tuple[dict[str, float], dict[str, list[float]]]:
    """Metrics of world positions ``pred (T, J, 3)`` against the sample's ground truth, with ``plausibility``
    (:func:`phymo.data.metrics.plausibility` as a dict) of the whole motion.

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
                 "mpjpe_2d": metrics.reprojection_error_px(cam.project(p), cam.project(g), per_frame=True)}
    values = {k: float(v.mean()) for k, v in per_frame.items()}
    if sample.align_frames:
        values["mpjpe_cam"] = metrics.mpjpe_global(p, g) * 1000
    values["accel_error"] = metrics.acceleration_error(p, g) * 1000
    values.update(plausibility)
    return values, {k: v.tolist() for k, v in per_frame.items()}


def plausibility(positions: np.ndarray, fps: float, rec=None, residual: bool = False) -> dict:
    """:func:`phymo.data.metrics.plausibility` of canonical positions, with the physics body's standing heights
    and (``residual``) its residual force when the physics result ``rec`` is given."""
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
                      reconstruct_fn=None, work_root: str | None = None) -> dict:
    """Evaluate one sequence: the record written to ``sequences.jsonl`` (raises on failure).

    ``reconstruct_fn`` defaults to :func:`phymo.physics.reconstruct` (tests inject others); a dataset that
    runs the whole pipeline itself (multiview) brings its physics result and both plausibility records (its
    ``report.json``'s) in the sample, and writes that run under ``work_root/<id>``. With ``cfg.compare``
    the named optimizers also run on the same windows (:func:`compare_on_windows`), traced under ``optimizers``.
    """
    if reconstruct_fn is None:
        from phymo.physics import reconstruct as reconstruct_fn
    t0 = time.perf_counter()
    work = None if work_root is None else Path(work_root) / _safe(spec.id)
    sample = DATASETS[cfg.dataset][1](spec, cfg, work)
    fps = sample.obs.fps
    rec = {"id": spec.id, "action": spec.action, "status": "ok", "num_frames": sample.obs.num_frames,
           "fps": fps, "per_frame": {}}
    kin = sample.obs.kinematic_positions()
    if sample.physics is None:
        cache = None if cache_root is None else Path(cache_root) / _safe(spec.id) / cfg.optimizer.optimizer
        result, extras = _physics(sample, cfg, cache, reconstruct_fn)
        pos = result.motion.positions()
        if getattr(result, "reference", None) is not None:  # what the physics tracked, scored alike
            extras["reference_mpjpe"] = score(result.reference.positions(), sample, {})[0]["mpjpe"]
        plaus = {"kinematic": plausibility(kin, fps, result),
                 "physics": plausibility(pos, fps, result, residual=True)}
        if sample.gt_on_ground:  # reference for the plausibility metrics
            rec["ground_truth"] = plausibility(sample.gt, fps, result)
    else:
        pos, extras, plaus = sample.physics, dict(sample.physics_extras), sample.plausibility
    rec["kinematic"], rec["per_frame"]["kinematic"] = score(kin, sample, plaus["kinematic"])
    rec["physics"], rec["per_frame"]["physics"] = score(pos, sample, plaus["physics"])
    rec["physics"].update(extras)
    if sample.info:
        rec["info"] = sample.info
    if cfg.compare:
        from phymo.physics import prepare

        seq = prepare(sample.obs, cfg.reconstruct)  # one per sequence: it does not depend on the optimizer
        rec["optimizers"] = {n: compare_on_windows(sample.obs, cfg.reconstruct, cfg.optimizer, n, seq)
                             for n in cfg.compare}
    rec["total_s"] = time.perf_counter() - t0
    return rec


def compare_on_windows(obs, reconstruct_config, optimizer, name: str, seq=None) -> dict:
    """Optimizer ``name`` (with the step budget and sizes of :class:`~phymo.optimizer.OptimizerConfig`
    ``optimizer``) on every window of the sequence, each built by the reconstruction's window builder
    (:meth:`phymo.physics.PreparedSequence.window`) from the reference's state, so every optimizer sees the
    very same problems; ``seq``: ``obs`` already prepared (:func:`phymo.physics.prepare`). Returns the steps,
    seconds and ``(window, evaluation, loss, seconds)`` events."""
    from phymo.physics import prepare, solve_window, window_starts

    seq, solver = seq or prepare(obs, reconstruct_config), _solver(optimizer, name)
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
    if cfg.compare:
        summary["optimizers"] = compare_optimizers(records)
        atomic_write_json(out / "optimizers.json", summary["optimizers"])
        text += "\n" + format_comparison(summary["optimizers"])
    atomic_write_json(out / "summary.json", summary)
    atomic_write_bytes(out / "summary.md", text.encode())
    return summary
