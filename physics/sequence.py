"""Physics reconstruction of a sequence: the prepared sequence, the one window builder, and the driver.

:func:`prepare` fits the humanoid to the kinematic estimate and makes the reference it tracks (the
estimate grounded, refined and foot-pinned, :mod:`phymo.physics.reference`), once per sequence.
:meth:`PreparedSequence.window` builds the problem of any window of it; the reconstruction, the
evaluation's optimizer comparison, the benchmarks and meta-training all call it, so the loss an
optimizer is trained and judged on is the one the product minimizes.

:func:`reconstruct` cuts the sequence into overlapping windows (:func:`window_starts`). Each starts from
the simulated state the previous one reached at its first frame (the reference's state for the first
window), so the output, which takes every window's frames up to the next window's start, has no jump in
pose or velocity where windows meet. A window whose rollout diverges or whose body falls (leaves the
reference by more than ``max_deviation``) is solved again, with the looser tracking pole and twice the
steps, then also from the reference's state, before it falls back to the kinematic estimate; every
window's :class:`WindowRecord` says which. Finished windows are cached (:mod:`phymo.physics.cache`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from phymo.data import G, Motion, Observations

from .adjoint import Simulator
from .body import Body, motion_to_qpos, qpos_to_motion, qpos_to_qvel
from .cache import cache_folder, load_window, save_window
from .config import ReconstructConfig
from .fit import fitted_body
from .loss import WindowTargets
from .reference import tracking_reference
from .simulate import SimulationDiverged
from .tracking import reference_state, tracking_gains, tracking_knots
from .window import IterLog, Solver, WindowProblem, WindowStatus, one_thread, solve_window

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WindowRecord:
    """What became of one window: frames ``[start, stop)`` solved, ``[start, used_to)`` in the output (up to
    the next window's start, which starts from this one's state there: windows join without a seam).

    ``reason`` says why it was re-solved or fell back ('' when optimized); ``loss`` is the best window loss
    (NaN when it fell back); ``steps`` optimizer steps and ``len(trace)`` loss evaluations were spent on the
    attempt kept; ``cached``: read from the window cache.
    """

    start: int
    stop: int
    used_to: int
    status: WindowStatus
    reason: str
    loss: float
    steps: int
    trace: tuple[IterLog, ...]
    cached: bool

    @property
    def used_from(self) -> int:
        return self.start

    @property
    def fell_back(self) -> bool:
        return self.status is WindowStatus.FELL_BACK


@dataclass
class Reconstruction:
    """The physics motion, its simulation state and actuation per frame, and a record per window.

    ``torques (T, nu)`` are the actuator outputs applied from each frame on (N m for the hinges in
    ``actuator_names`` order, then N and N m for the residual root actuators); NaN on frames that fell back.
    """

    motion: Motion
    qpos: np.ndarray  # (T, nq)
    qvel: np.ndarray  # (T, nv)
    torques: np.ndarray  # (T, nu)
    actuator_names: list[str]
    num_residual: int
    body_weight_n: float
    standing_heights: np.ndarray  # (4,) foot joints above the sole standing flat, metres
    windows: tuple[WindowRecord, ...]
    reference: Motion  # what the simulation tracked: the kinematic estimate grounded, refined, foot-pinned

    @property
    def residual_force(self) -> np.ndarray:
        """``(T,)`` magnitude of the residual root force, N (zeros without residual actuators; NaN on frames
        that fell back)."""
        if self.num_residual == 0:
            return np.where(np.isnan(self.torques[:, 0]), np.nan, 0.0)
        return np.linalg.norm(self.torques[:, -self.num_residual:][:, :3], axis=1)


def window_starts(num_frames: int, window: int, overlap: int) -> list[int]:
    """First frame of each window: every ``window - overlap`` frames, the last one ending at the last frame."""
    if num_frames <= window:
        return [0]
    step = window - overlap
    starts = list(range(0, num_frames - window, step))
    return starts + [max(num_frames - window, starts[-1] + 1)] if starts[-1] + window < num_frames else starts


def _bad_input(obs: Observations) -> str | None:
    if obs.num_frames < 2:
        return "window shorter than 2 frames"
    if not (np.all(np.isfinite(obs.keypoints_2d)) and np.all(np.isfinite(obs.confidence))):
        return "non-finite keypoints or confidences"
    if not (np.all(np.isfinite(obs.kinematic.rotations)) and np.all(np.isfinite(obs.kinematic.root_translation))):
        return "non-finite kinematic estimate"
    if not np.any(obs.confidence > 0):
        return "no keypoint with confidence > 0"
    return None


@dataclass
class PreparedSequence:
    """A sequence made ready for its windows: observations, settings, the fitted humanoid, the tracking
    reference and its stance pins ``(T, 4, 3)`` with the stance mask ``(T, 4)`` (None: no pins)."""

    obs: Observations
    config: ReconstructConfig
    body: Body
    reference: Motion
    pins: np.ndarray | None
    stance: np.ndarray | None

    @one_thread()
    def window(self, start: int, stop: int, state: tuple[np.ndarray, np.ndarray] | None = None,
               pole: float | None = None) -> WindowProblem:
        """The problem of frames ``[start, stop)``: simulator, loss targets and the tracking pass's knots.

        The simulation starts from ``state = (qpos, qvel)`` (default: the reference's state at ``start``).
        The tracking pass uses ``pole`` (default: the configured pole, then once the retry pole where it
        diverges). Raises ``SimulationDiverged`` when every tracking pass diverges.
        """
        cfg, body = self.config, self.body
        obs, ref = self.obs.slice(start, stop), self.reference.slice(start, stop)
        qref, vref, aref = reference_state(body, ref, cfg.tracking.smooth_sigma, cfg.reference.ground_snap)
        qpos0, qvel0 = (qref[0], vref[0]) if state is None else state
        sim = Simulator(body, obs.num_frames, obs.fps, cfg.simulation.substeps, cfg.simulation.knot_every,
                        threads=cfg.simulation.threads)
        stance = None if self.stance is None else self.stance[start:stop]
        ref_positions = ref.positions()
        targets = WindowTargets.from_arrays(obs.keypoints_2d, obs.confidence, ref_positions, obs.camera, obs.fps,
                                            body.foot_sites(), body.nu - body.num_residual,
                                            None if stance is None else self.pins[start:stop],
                                            None if stance is None else stance.astype(np.float64))
        poles = [pole] if pole is not None else [cfg.tracking.pole, cfg.tracking.retry_pole]
        poles = [p for p in poles if p is not None]
        for attempt, p in enumerate(poles):
            try:
                gains = tracking_gains(p, sim.knot_every / obs.fps)
                knots0 = tracking_knots(sim, qref, vref, aref, qpos0, qvel0, *gains, stance, cfg.tracking.plan_friction)
                break
            except SimulationDiverged as e:
                if attempt == len(poles) - 1:
                    sim.close()
                    raise
                log.warning("window at frame %d: the tracking pass diverged with pole %.2f (%s); retrying with %.2f",
                            start, p, e, poles[attempt + 1])
        return WindowProblem(start, stop, sim, qpos0, torch.as_tensor(np.concatenate([np.zeros(body.nv), qvel0])),
                             targets, cfg.weights, knots0, ref_positions)


def prepare(obs: Observations, config: ReconstructConfig, body: Body | None = None) -> PreparedSequence:
    """The :class:`PreparedSequence` of ``obs`` (which must carry a kinematic estimate); ``body`` defaults to
    :func:`~phymo.physics.fit.fitted_body` of the estimate. Runs on one thread (:func:`one_thread`)."""
    if obs.kinematic is None:
        raise ValueError("physics reconstruction needs observations with a kinematic estimate (obs.kinematic)")
    with one_thread():
        body = body or fitted_body(obs.kinematic, config.body, config.fit_ankle)
        reference, pins, stance = tracking_reference(body, obs, config.reference)
    return PreparedSequence(obs, config, body, reference, pins, stance)


def reconstruct(obs: Observations, config: ReconstructConfig, solver: Solver, cache_dir: str | Path | None = None,
                body: Body | None = None) -> Reconstruction:
    """Physics reconstruction of a whole sequence (see the module docstring).

    Args:
        obs: keypoints, confidences, camera and the kinematic estimate of one person.
        config: the physics settings; solver: the optimizer and its steps per window.
        cache_dir: where finished windows are stored (under a hash of input, settings and solver).
        body: a prebuilt humanoid (default: fitted to the kinematic estimate).
    """
    with one_thread():
        return _reconstruct(prepare(obs, config, body), solver, cache_dir)


def _attempts(state, solver: Solver, tracking) -> list[tuple[float | None, int, tuple | None]]:
    """``(pole, steps, start state)`` of each try at a window: as configured; with the looser pole and twice the
    steps; then that again from the reference's state (which jumps at the seam, but is still physics)."""
    looser = tracking.retry_pole or tracking.pole
    tries = [(None, solver.steps, state), (looser, 2 * solver.steps, state)]
    return tries + [(looser, 2 * solver.steps, None)] if state is not None else tries


def _solve(seq: PreparedSequence, start: int, stop: int, state, solver: Solver) -> tuple[dict, dict]:
    """Arrays (``qpos``, ``qvel``, ``torques`` per frame, ``knots``) and metadata of the window kept."""
    windows = seq.config.windows
    reason = _bad_input(seq.obs.slice(start, stop))
    failures = [] if reason is None else [reason]
    attempts = [] if reason is not None else _attempts(state, solver, seq.config.tracking)
    untrackable = set()  # starts whose tracking pass diverged with every pole: a later try would repeat it
    for k, (pole, steps, start_state) in enumerate(attempts):
        from_reference = start_state is None
        if from_reference in untrackable:
            continue
        how = "" if k == 0 else f" (re-solve {k}: pole {pole}, {steps} steps{', from the reference' * from_reference})"
        try:
            problem = seq.window(start, stop, start_state, pole)
        except SimulationDiverged as e:
            failures.append(f"tracking pass diverged{how}: {e}")
            untrackable.add(from_reference)
            continue
        try:
            sol = solve_window(problem, solver, steps)
            qpos, qvel, torques, deviation = problem.rollout(sol.knots)
        except SimulationDiverged as e:
            failures.append(f"physics blow-up{how}: {e}")
            continue
        finally:
            problem.close()
        if deviation > windows.max_deviation:
            failures.append(f"the body fell or lost tracking{how}: {deviation:.3f} m from the reference on average "
                            f"(> max_deviation {windows.max_deviation} m)")
            continue
        if failures:
            log.warning("window at frame %d re-solved after: %s", start, "; ".join(failures))
        meta = {"status": WindowStatus.OPTIMIZED if k == 0 else WindowStatus.RESOLVED, "reason": "; ".join(failures),
                "loss": sol.loss, "terms": sol.terms, "trace": sol.trace, "steps": sol.steps}
        return {"qpos": qpos, "qvel": qvel, "torques": torques, "knots": sol.knots}, meta
    log.warning("physics window at frame %d falls back to the kinematic estimate: %s", start, "; ".join(failures))
    return _fallback(seq.body, seq.obs.slice(start, stop)), {
        "status": WindowStatus.FELL_BACK, "reason": "; ".join(failures), "loss": float("nan"), "terms": {},
        "trace": (), "steps": 0}


def _fallback(body: Body, obs: Observations) -> dict:
    """The kinematic estimate of a window as simulation state; torques NaN (nothing was simulated)."""
    q = np.nan_to_num(motion_to_qpos(body, obs.kinematic))
    q[:, 3:7] /= np.maximum(np.linalg.norm(q[:, 3:7], axis=1, keepdims=True), 1e-12)
    q[np.linalg.norm(q[:, 3:7], axis=1) < 0.5, 3:7] = (1.0, 0.0, 0.0, 0.0)
    return {"qpos": q, "qvel": qpos_to_qvel(body, q, 1.0 / obs.fps), "torques": np.full((len(q), body.nu), np.nan),
            "knots": np.zeros((0, body.nu))}


def _reconstruct(seq: PreparedSequence, solver: Solver, cache_dir: str | Path | None) -> Reconstruction:
    body, t, windows = seq.body, seq.obs.num_frames, seq.config.windows
    cache = None if cache_dir is None else cache_folder(cache_dir, seq.obs, seq.config, solver)
    qpos, qvel, torques = np.zeros((t, body.nq)), np.zeros((t, body.nv)), np.zeros((t, body.nu))
    records, state = [], None
    starts = window_starts(t, windows.window, windows.overlap)
    for i, s in enumerate(starts):
        e = min(s + windows.window, t)
        used_to = starts[i + 1] if i + 1 < len(starts) else t
        path = None if cache is None else cache / f"window_{i:04d}.npz"
        cached = path is not None and path.exists()
        if cached:
            arrays, meta = load_window(path)
        else:
            arrays, meta = _solve(seq, s, e, state, solver)
            if path is not None:
                save_window(path, arrays, **meta)
        n = used_to - s
        qpos[s:used_to], qvel[s:used_to], torques[s:used_to] = (arrays[k][:n] for k in ("qpos", "qvel", "torques"))
        fell_back = meta["status"] is WindowStatus.FELL_BACK
        state = None if fell_back or i + 1 == len(starts) else (arrays["qpos"][n], arrays["qvel"][n])
        records.append(WindowRecord(s, e, used_to, meta["status"], meta["reason"], float(meta["loss"]),
                                    meta["steps"], meta["trace"], cached))
    return Reconstruction(qpos_to_motion(body, qpos, seq.obs.fps), qpos, qvel, torques, body.actuator_names,
                          body.num_residual, body.config.mass * G, body.foot_heights(), tuple(records), seq.reference)
