"""The look-ahead planner that gives every window its start: receding-horizon cross-entropy over the servos.

From the window's first state it plans the servo target offsets of the balance hinges (:data:`BALANCE_HINGES`)
over a horizon of about half a second (``PlannerConfig.horizon``; to the landing where the reference is in
flight) as a few linear knots, samples many of them around the current mean, rolls every sample out in C
(:class:`~phymo.physics.dynamics.BatchRollout`), scores it against the reference
(:func:`~phymo.physics.objective.plan_cost`), refits the mean and spread to the best tenth, and after a few
iterations executes the first ``commit`` frames of the best plan on the body. It then plans again from the
state reached, warm-started with the previous plan shifted in time. The other hinges follow the reference
(their servos hold them); nothing holds the body but its feet, unless the window is assisted, where the
residual root controls are sampled too.

Measured on the training split's true motion (``phymo bench own-feet``, docs/results.md): offsets on every
hinge, or committing the sampled noise of the arms, doubled the tracking error of walks; more iterations of
fewer samples (64 x 6) beat fewer of more (128 x 3, 256 x 2) at equal cost, and a 0.5 s horizon beat 0.7
and 0.9 s on runs and dashes.
"""

from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np

from phymo.data import G

from .body import NUM_RESIDUAL, Body
from .config import PlannerConfig
from .dynamics import BatchRollout, ControlGrid, full_state, rollout
from .objective import plan_cost
from .reference import Reference

#: the hinges the planner searches (side-less joint and axis): sagittal and frontal balance at the hips,
#: knees, ankles and trunk, and the hips' turn
BALANCE_HINGES = ("hip_x", "hip_y", "hip_z", "knee_y", "ankle_x", "ankle_y", "spine_x", "spine_y", "chest_x",
                  "chest_y")
#: lower bound of the sampling spread after a refit, rad (a collapsed spread stops the search)
MIN_SIGMA = 0.02
#: frames of support the horizon keeps past a landing, as a share of the horizon
LANDING_MARGIN = 0.25


def balance_columns(body: Body) -> np.ndarray:
    """Indices (into the hinge controls) of the :data:`BALANCE_HINGES`."""
    names = body.actuator_names[:body.num_hinges]
    return np.array([i for i, n in enumerate(names) if n.split("_", 1)[-1] in BALANCE_HINGES
                     or n in BALANCE_HINGES])


@dataclass(frozen=True)
class Plan:
    """What the planner executed over a window's ``F`` frames (knots of a :class:`ControlGrid`).

    Attributes:
        offsets: ``(F, num_hinges)`` servo target offsets from the reference, rad.
        residual: ``(F, 6)`` normalized residual root controls (assisted windows), or None.
        qpos, qvel: ``(F, nq)``, ``(F, nv)`` the simulated states at the frames.
        cost: mean plan cost of the executed plans (:func:`~phymo.physics.objective.plan_cost`).
    """

    offsets: np.ndarray
    residual: np.ndarray | None
    qpos: np.ndarray
    qvel: np.ndarray
    cost: float


def horizon_frames(reference: Reference, frame: int, horizon: int) -> int:
    """The horizon from ``frame``: ``horizon`` frames, extended to cover a flight phase that starts within it and
    a margin of support after its landing (at most twice as long), clipped at the end of the reference."""
    last = reference.num_frames - 1 - frame
    flight = reference.flight[frame:frame + horizon + 1]
    if flight.any():
        after = np.flatnonzero(~reference.flight[frame + int(np.argmax(flight)):])
        landing = int(np.argmax(flight)) + (int(after[0]) if len(after) else last)
        horizon = max(horizon, min(2 * horizon, landing + round(LANDING_MARGIN * horizon)))
    return max(1, min(horizon, last))


class Planner:
    """The planner of one body and reference (see the module docstring); ``rollouts`` runs its samples."""

    def __init__(self, body: Body, reference: Reference, config: PlannerConfig, rollouts: BatchRollout,
                 substeps: int):
        self.body, self.reference, self.config, self.rollouts = body, reference, config, rollouts
        self.substeps = substeps
        self.columns = balance_columns(body)
        self.horizon, self.commit = config.frames(reference.motion.fps)

    def plan(self, start: int, stop: int, qpos: np.ndarray, qvel: np.ndarray, rng: np.random.Generator,
             assisted: bool = False, warm: np.ndarray | None = None) -> Plan:
        """Execute frames ``[start, stop)`` of the reference from ``(qpos, qvel)`` at frame ``start``.

        ``warm (n, num_hinges)``: offsets to start from (the previous window's, for its frames from ``start``
        on). Raises ``SimulationDiverged`` when the executed plan diverges.
        """
        body, ref = self.body, self.reference
        frames, nh = stop - start, body.num_hinges
        searched = self.columns if not assisted else np.concatenate([self.columns, nh + np.arange(NUM_RESIDUAL)])
        controls = np.zeros((frames, body.nu))  # per frame: hinge offsets (rad), then residual controls
        states_q, states_v = np.zeros((frames, body.nq)), np.zeros((frames, body.nv))
        if warm is not None and len(warm):
            controls[0, :nh] = warm[0]
        if assisted:  # a rescue starts by carrying the body's weight, and searches from there
            controls[0, nh + 2] = body.config.mass * G / body.residual_gear[2]
        prior = np.tile(controls[0], (1 if warm is None else max(len(warm), 1), 1))
        if warm is not None and len(warm):
            prior[:, :nh] = warm
        mean = None if warm is None and not assisted else prior[:, searched]
        data = mujoco.MjData(body.model)
        costs = []
        states_q[0], states_v[0] = qpos, qvel
        for k in range(0, frames - 1, self.commit):
            f = start + k
            length = horizon_frames(ref, f, self.horizon)
            best = self._search(f, length, states_q[k], states_v[k], controls[k], searched, mean, rng)
            costs.append(best.cost)
            commit = min(self.commit, frames - 1 - k)
            planned = self._controls(length, controls[k], searched, best.free)
            knots = planned[:commit + 1] + np.pad(ref.targets[f:f + commit + 1], ((0, 0), (0, NUM_RESIDUAL)))
            q, v, _ = rollout(body.model, data, states_q[k], states_v[k],
                              ControlGrid(commit + 1, self.substeps).expand(knots))
            controls[k + 1:k + commit + 1] = planned[1:commit + 1]
            states_q[k + 1:k + commit + 1] = q[self.substeps::self.substeps]
            states_v[k + 1:k + commit + 1] = v[self.substeps::self.substeps]
            mean = self._shifted(best.free, length, commit)
        residual = controls[:, nh:] if assisted else None
        return Plan(controls[:, :nh], residual, states_q, states_v, float(np.mean(costs)) if costs else 0.0)

    # ---- internals ---------------------------------------------------------------------------------

    def _interpolation(self, horizon: int) -> np.ndarray:
        """``(horizon + 1, knots)`` weights: per-frame values of the plan's knots (linear in between)."""
        times = np.linspace(0.0, horizon, self.config.knots)
        out = np.zeros((horizon + 1, self.config.knots))
        for f in range(horizon + 1):
            i = min(np.searchsorted(times, f, side="right") - 1, self.config.knots - 2)
            a = (f - times[i]) / (times[i + 1] - times[i])
            out[f, i], out[f, i + 1] = 1.0 - a, a
        return out

    def _controls(self, horizon: int, current: np.ndarray, searched: np.ndarray, free: np.ndarray) -> np.ndarray:
        """Per-frame controls ``(..., horizon + 1, nu)`` (hinge offsets from the reference, residual controls) of
        plans whose knots after the first are ``free (..., K-1, len(searched))``: every control starts at
        ``current`` (what is executed now); the searched ones follow the plan's knots, the others return to zero
        by the second knot (the hinges to the reference)."""
        interp = self._interpolation(horizon)
        lead = free.shape[:-2]
        fade = np.clip(1.0 - np.arange(horizon + 1) * (self.config.knots - 1) / horizon, 0.0, 1.0)[:, None]
        out = np.broadcast_to(current * fade, lead + (horizon + 1, len(current))).copy()
        first = np.broadcast_to(current[searched], lead + (1, len(searched)))
        out[..., searched] = interp @ np.concatenate([first, free], axis=-2)
        return out

    def _shifted(self, free: np.ndarray, horizon: int, commit: int) -> np.ndarray:
        """The searched controls of ``free`` per frame from ``commit`` frames on (held past this horizon)."""
        per_frame = self._interpolation(horizon)[:, 1:] @ free
        return per_frame[np.minimum(np.arange(horizon + 1) + commit, horizon)]

    def _search(self, frame: int, horizon: int, qpos: np.ndarray, qvel: np.ndarray, current: np.ndarray,
                searched: np.ndarray, mean: np.ndarray | None, rng: np.random.Generator) -> _Best:
        """The best plan found from the state at ``frame`` (see the module docstring)."""
        body, cfg, sub = self.body, self.config, self.substeps
        shape = (cfg.knots - 1, len(searched))
        at = np.round(np.linspace(0.0, horizon, cfg.knots)[1:]).astype(int)
        mu = np.zeros(shape) if mean is None else mean[np.minimum(at, len(mean) - 1)]
        sig = np.full(shape, cfg.sigma)
        samples, elite = cfg.samples, max(2, round(cfg.elite * cfg.samples))
        state = full_state(body.model, qpos, qvel)
        reference = self.reference.sites[frame + 1:frame + horizon + 1]
        base = np.pad(self.reference.targets[frame:frame + horizon + 1], ((0, 0), (0, NUM_RESIDUAL)))
        grid = ControlGrid(horizon + 1, sub)
        residual = searched >= body.num_hinges

        def evaluate(free):
            free[..., residual] = np.clip(free[..., residual], -1.0, 1.0)
            _, sensors, diverged = self.rollouts.run(state, grid.expand(base + self._controls(
                horizon, current, searched, free)))
            sites = sensors[:, sub - 1::sub].reshape(len(free), horizon, -1, 3)
            cost = plan_cost(sites, reference, free, cfg.control_cost)
            cost[diverged | ~np.isfinite(cost)] = np.inf
            return cost

        best = _Best(np.inf, mu)
        for _ in range(cfg.iterations):
            free = mu + rng.standard_normal((samples, *shape)) * sig
            free[0] = mu
            cost = evaluate(free)
            order = np.argsort(cost, kind="stable")
            if cost[order[0]] < best.cost:
                best = _Best(float(cost[order[0]]), free[order[0]].copy())
            top = free[order[:elite]]
            mu, sig = top.mean(axis=0), np.maximum(top.std(axis=0), MIN_SIGMA)
        # the final mean, free of sampling noise, where it does at least as well as the best sample
        final = mu[None].copy()
        cost = evaluate(final)[0]
        return _Best(float(cost), final[0]) if cost <= best.cost else best


@dataclass(frozen=True)
class _Best:
    cost: float
    free: np.ndarray  # (K-1, searched) the searched controls at the knots after the first
