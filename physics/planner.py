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

from .body import HINGE_QPOS, NUM_RESIDUAL, Body
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
             assisted: bool = False, warm: np.ndarray | None = None, samples: float = 1.0,
             horizon: float = 1.0) -> Plan:
        """Execute frames ``[start, stop)`` of the reference from ``(qpos, qvel)`` at frame ``start``.

        ``warm (n, num_hinges)``: offsets to start from (the previous window's, for its frames from ``start``
        on). ``samples`` and ``horizon`` scale the samples and the horizon (a re-solve). Raises
        ``SimulationDiverged`` when the executed plan diverges.
        """
        body, ref = self.body, self.reference
        frames, nh = stop - start, body.num_hinges
        offsets = np.zeros((frames, nh))
        residual = np.zeros((frames, NUM_RESIDUAL)) if assisted else None
        states_q, states_v = np.zeros((frames, body.nq)), np.zeros((frames, body.nv))
        current = np.zeros(nh) if warm is None or not len(warm) else warm[0].copy()
        mean = None if warm is None else warm[:, self.columns]
        data = mujoco.MjData(body.model)
        costs = []
        f = start
        states_q[0], states_v[0] = qpos, qvel
        while True:
            k = f - start
            offsets[k] = current
            if f == stop - 1:
                break
            length = horizon_frames(ref, f, round(self.horizon * horizon))
            best = self._search(f, length, states_q[k], states_v[k], current, mean, rng, assisted, samples)
            costs.append(best.cost)
            commit = min(self.commit, stop - 1 - f)
            knots = self._knots(f, length, current, best.free, best.residual)
            ctrl = ControlGrid(commit + 1, self.substeps).expand(knots[:commit + 1])
            q, v, _ = rollout(body.model, data, states_q[k], states_v[k], ctrl)
            off = knots[:commit + 1, :nh] - ref.qpos[f:f + commit + 1, HINGE_QPOS]
            for i in range(1, commit + 1):
                offsets[k + i] = off[i]
                states_q[k + i], states_v[k + i] = q[i * self.substeps], v[i * self.substeps]
                if assisted:
                    residual[k + i] = knots[i, nh:]
            current = off[commit]
            mean = self._shifted(best.free, length, commit)
            f += commit
        return Plan(offsets, residual, states_q, states_v, float(np.mean(costs)) if costs else 0.0)

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

    def _knots(self, frame: int, horizon: int, current: np.ndarray, free: np.ndarray,
               residual: np.ndarray | None) -> np.ndarray:
        """Per-frame control knots ``(..., horizon + 1, nu')`` of plans whose knots after the first are ``free
        (..., K-1, len(columns))``: the reference's angles plus offsets that start at ``current`` (the control
        executed now), the balance hinges following the plan, the others returning to the reference by the
        second knot; then the residual controls (zero where none are given)."""
        interp = self._interpolation(horizon)
        lead = free.shape[:-2]
        knots_sel = np.concatenate([np.broadcast_to(current[self.columns], lead + (1, len(self.columns))), free],
                                   axis=-2)
        second_knot = horizon / (self.config.knots - 1)
        fade = np.clip(1.0 - np.arange(horizon + 1) / second_knot, 0.0, 1.0)[:, None]
        off = np.broadcast_to(current * fade, lead + (horizon + 1, len(current))).copy()
        off[..., self.columns] = interp @ knots_sel
        ctrl = self.reference.qpos[frame:frame + horizon + 1, HINGE_QPOS] + off
        if residual is None:
            return np.concatenate([ctrl, np.zeros(ctrl.shape[:-1] + (NUM_RESIDUAL,))], axis=-1)
        res = interp @ np.concatenate([np.zeros(lead + (1, NUM_RESIDUAL)), residual], axis=-2)
        return np.concatenate([ctrl, res], axis=-1)

    def _shifted(self, free: np.ndarray, horizon: int, commit: int) -> np.ndarray:
        """The balance offsets of ``free`` at the frames of the next plan's knots (held past this horizon)."""
        per_frame = self._interpolation(horizon)[:, 1:] @ free
        return per_frame[np.minimum(np.arange(horizon + 1) + commit, horizon)]

    def _search(self, frame: int, horizon: int, qpos: np.ndarray, qvel: np.ndarray, current: np.ndarray,
                mean: np.ndarray | None, rng: np.random.Generator, assisted: bool, scale: float) -> _Best:
        """The best plan found from the state at ``frame`` (see the module docstring)."""
        body, cfg, sub = self.body, self.config, self.substeps
        n_free, ncol = cfg.knots - 1, len(self.columns)
        interp_frames = np.round(np.linspace(0.0, horizon, cfg.knots)[1:]).astype(int)
        if mean is None:
            mu = np.zeros((n_free, ncol))
        else:
            mu = mean[np.minimum(interp_frames, len(mean) - 1)]
        mu_res = np.zeros((n_free, NUM_RESIDUAL))
        sig = np.full((n_free, ncol), cfg.sigma)
        sig_res = np.full((n_free, NUM_RESIDUAL), cfg.sigma)
        samples = max(2, round(cfg.samples * scale))
        elite = max(2, round(cfg.elite * samples))
        state = full_state(body.model, qpos, qvel)
        reference = self.reference.sites[frame + 1:frame + horizon + 1]
        grid = ControlGrid(horizon + 1, sub)
        best = _Best(np.inf, mu, mu_res if assisted else None)

        def evaluate(free, res):
            ctrl = grid.expand(self._knots(frame, horizon, current, free, res))
            _, sensors, diverged = self.rollouts.run(state, ctrl)
            sites = sensors[:, sub - 1::sub].reshape(len(free), horizon, -1, 3)
            effort_terms = free if res is None else np.concatenate([free, res], axis=-1)
            cost = plan_cost(sites, reference, effort_terms, cfg.control_cost)
            cost[diverged | ~np.isfinite(cost)] = np.inf
            return cost

        for _ in range(cfg.iterations):
            free = mu + rng.standard_normal((samples, n_free, ncol)) * sig
            free[0] = mu
            res = None
            if assisted:
                res = mu_res + rng.standard_normal((samples, n_free, NUM_RESIDUAL)) * sig_res
                res[0] = mu_res
                res = np.clip(res, -1.0, 1.0)
            cost = evaluate(free, res)
            order = np.argsort(cost, kind="stable")
            if cost[order[0]] < best.cost:
                best = _Best(float(cost[order[0]]), free[order[0]].copy(),
                             None if res is None else res[order[0]].copy())
            top = order[:elite]
            mu, sig = free[top].mean(axis=0), np.maximum(free[top].std(axis=0), MIN_SIGMA)
            if assisted:
                mu_res, sig_res = res[top].mean(axis=0), np.maximum(res[top].std(axis=0), MIN_SIGMA)
        # the final mean, free of sampling noise, where it does at least as well as the best sample
        cost = evaluate(mu[None], None if not assisted else mu_res[None])[0]
        if cost <= best.cost:
            best = _Best(float(cost), mu, mu_res if assisted else None)
        return best


@dataclass(frozen=True)
class _Best:
    cost: float
    free: np.ndarray  # (K-1, len(columns)) balance offsets at the knots after the first
    residual: np.ndarray | None  # (K-1, 6)
