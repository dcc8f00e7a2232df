"""Evaluation orchestration: one sequence's job, and the run over a dataset with streamed, resumable results.

A dataset (:data:`phymo.app.evaluation.datasets.DATASETS`) lists :class:`SequenceSpec` jobs (small,
picklable) and turns one into a :class:`Sample`: observations carrying a kinematic initialization, plus
ground-truth world positions ``(T, J, 3)`` (metres, canonical joint order) and the joints the protocol
scores. One job reconstructs the sequence with physics and scores the kinematic initialization and the
physics result against ground truth. Each finished job is appended as one JSON line to
``OUT/sequences.jsonl`` at once, so a rerun skips sequences already finished; a job that raises is
recorded as failed, never aborts the run (:mod:`.runners`). ``OUT/summary.json`` and ``OUT/summary.md``
aggregate per action (frames pooled) and overall (mean over actions), Human3.6M style (:mod:`.summary`).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import os
import time
from pathlib import Path

import numpy as np

from phymo.app.outputs import window_count_fields
from phymo.data import atomic_write_bytes, atomic_write_json

from .datasets import dataset, list_sequences
from .runners import SequentialRunner
from .scoring import plausibility, score
from .summary import compare_optimizers, format_comparison, format_markdown, summarize
from .types import EvalConfig, Sample, SequenceSpec

log = logging.getLogger(__name__)


# ---- one sequence ---------------------------------------------------------------------------------

def _solver(optimizer, name: str | None = None):
    """The window solver of :class:`~phymo.optimizer.OptimizerConfig` ``optimizer`` (with optimizer ``name``)."""
    from phymo.optimizer import window_solver

    return window_solver(optimizer if name is None else dataclasses.replace(optimizer, name=name), "cpu")


def _physics(sample: Sample, cfg: EvalConfig, cache: Path | None, reconstruct_fn):
    """Reconstruct with the configured optimizer: the result and its physics extras."""
    t0 = time.perf_counter()
    rec = reconstruct_fn(sample.obs, cfg.physics, _solver(cfg.optimizer), cache_dir=cache)
    extras = {"wall_s": time.perf_counter() - t0, "steps": sum(w.steps for w in rec.windows),
              "evaluations": sum(len(w.trace) for w in rec.windows),
              **window_count_fields(w.status for w in rec.windows)}
    return rec, extras


def evaluate_sequence(spec: SequenceSpec, cfg: EvalConfig, cache_root: str | None = None,
                      reconstruct_fn=None, work_root: str | None = None) -> dict:
    """Evaluate one sequence: its dataset's sample (a dataset that runs the whole pipeline itself, multiview, writes
    that run under ``work_root/<id>``) scored by :func:`evaluate_sample`; the record written to
    ``sequences.jsonl``, with ``total_s`` (raises on failure)."""
    t0 = time.perf_counter()
    work = None if work_root is None else Path(work_root) / _safe(spec.id)
    rec = evaluate_sample(spec, dataset(cfg).load(spec, cfg, work), cfg, cache_root, reconstruct_fn)
    rec["total_s"] = time.perf_counter() - t0
    return rec


def evaluate_sample(spec: SequenceSpec, sample: Sample, cfg: EvalConfig, cache_root: str | None = None,
                    reconstruct_fn=None) -> dict:
    """The record of one loaded sequence: the kinematic estimate and the physics result scored against the truth.

    ``reconstruct_fn`` defaults to :func:`phymo.physics.reconstruct` (tests inject others); a sample that brings
    its physics result and both plausibility records (multiview: its ``report.json``'s) is not reconstructed. With
    ``cfg.compare`` the named optimizers also run on the same windows (:func:`compare_on_windows`), traced under
    ``optimizers``.
    """
    if reconstruct_fn is None:
        from phymo.physics import reconstruct as reconstruct_fn
    fps = sample.obs.fps
    rec = {"id": spec.id, "action": spec.action, "status": "ok", "num_frames": sample.obs.num_frames,
           "fps": fps, "per_frame": {}}
    kin = sample.obs.kinematic_positions()
    if sample.physics is None:
        cache = None if cache_root is None else Path(cache_root) / _safe(spec.id) / cfg.optimizer.name
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

        seq = prepare(sample.obs, cfg.physics)  # one per sequence: it does not depend on the optimizer
        rec["optimizers"] = {n: compare_on_windows(sample.obs, cfg.physics, cfg.optimizer, n, seq)
                             for n in cfg.compare}
    return rec


def compare_on_windows(obs, physics, optimizer, name: str, seq=None) -> dict:
    """Optimizer ``name`` (with the step budget and sizes of :class:`~phymo.optimizer.OptimizerConfig` ``optimizer``) on
    every window of the sequence, each built with the physics settings ``physics`` by the reconstruction's window
    builder (:meth:`phymo.physics.PreparedSequence.window`) from the reference's state, so every optimizer sees the
    very same problems; ``seq``: ``obs`` already prepared (:func:`phymo.physics.prepare`). Returns the steps,
    seconds and ``(window, evaluation, loss, seconds)`` events."""
    from phymo.physics import prepare, refine, window_starts

    seq, solver = seq or prepare(obs, physics), _solver(optimizer, name)
    w = physics.windows
    events, steps, t0 = [], 0, time.perf_counter()
    for k, s in enumerate(window_starts(obs.num_frames, w.window, w.overlap)):
        problem = seq.window(s, min(s + w.window, obs.num_frames))
        try:
            sol = refine(problem, solver)
        finally:
            problem.close()
        steps += sol.steps
        events += [(k, t.evaluation - 1, t.loss, t.seconds) for t in sol.trace]
    return {"iterations": steps, "wall_s": time.perf_counter() - t0, "events": events}


def _safe(seq_id: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in seq_id)


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
    entries, more = dataset(cfg).report(records, summary)
    summary |= entries
    text = format_markdown(summary) + more
    if cfg.compare:
        summary["optimizers"] = compare_optimizers(records)
        atomic_write_json(out / "optimizers.json", summary["optimizers"])
        text += "\n" + format_comparison(summary["optimizers"])
    atomic_write_json(out / "summary.json", summary)
    atomic_write_bytes(out / "summary.md", text.encode())
    return summary
