"""Windowed physics reconstruction: init by computed-torque tracking, optimize, cache, resume, fall back.

A sequence is cut into overlapping windows. Each window starts from the previous window's simulated
state (or the kinematic estimate for the first window or after a fallback), gets control knots from
a computed-torque tracking pass of the reference (the kinematic estimate refined on the loss's kinematic
terms with its stance feet pinned, :mod:`phymo.physics.reference`; smoothed), so the first rollout
already tracks it, and then optimizes the knots on :func:`phymo.physics.loss.window_loss` with any
:class:`Optimizer`. Finished windows are saved as ``window_XXXX.npz`` in ``cache_dir/<config hash>``;
a rerun loads them instead of recomputing. A window with NaN input, no confident keypoint or a
diverging simulation is logged and replaced by the kinematic estimate.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import mujoco
import numpy as np
import scipy.optimize
import torch
from threadpoolctl import threadpool_limits

from phymo.data.motion import Motion
from phymo.data.observations import Observations

from .adjoint import Simulator, simulate
from .body import MAX_FOOT_DROP, Body, BodyConfig, build_body, motion_to_qpos, qpos_to_motion, qpos_to_qvel
from .loss import LossWeights, WindowTargets, window_loss
from .reference import ground_root_height, smooth_frames, tracking_reference
from .simulate import SimulationDiverged, check_state, knot_frames

log = logging.getLogger(__name__)

#: bumped when the cached window files change content, so that an old cache is not read as new
CACHE_VERSION = "w6"
#: a stance foot joint higher than this above its standing height gets no planned contact force, metres
CONTACT_GAP = 0.03


class Optimizer(Protocol):
    """What reconstruction needs of an optimizer: ``torch.optim`` style ``step(closure)`` over one tensor.

    ``closure()`` zeroes the gradient, evaluates the loss, back-propagates and returns the loss.
    ``torch.optim.Adam([x])`` and ``torch.optim.LBFGS([x])`` satisfy it; so can a learned optimizer.
    """

    def step(self, closure: Callable[[], torch.Tensor]) -> Any: ...


OptimizerFactory = Callable[[torch.Tensor], Optimizer]


def adam(lr: float = 1e-3) -> OptimizerFactory:
    """Adam over the knots (``lr`` in normalized control units): the default."""
    return lambda x: torch.optim.Adam([x], lr=lr)


def lbfgs(max_iter: int = 4) -> OptimizerFactory:
    """L-BFGS with a strong-Wolfe line search, ``max_iter`` inner iterations per ``step``."""
    return lambda x: torch.optim.LBFGS([x], lr=1.0, max_iter=max_iter, line_search_fn="strong_wolfe")


@dataclass(frozen=True)
class ReconstructConfig:
    """Windowing, time discretization, initialization and optimization settings.

    Attributes:
        window: frames per window; overlap: frames shared by consecutive windows.
        substeps: simulation steps per frame; knot_every: frames per control knot;
        interp: knot interpolation ("linear" or "hold").
        iterations: optimizer ``step`` calls per window; lr: learning rate of the default Adam.
        learned_step_scale: update scale of a learned optimizer (``step_scale`` of
            ``phymo.optimizer.LearnedAdapter``): they were meta-trained on test functions whose steps
            are much larger than what a window's normalized controls tolerate (measured in the README).
        tracking_pole: closed-loop pole of the initialization's computed-torque tracking
            (gains from :func:`tracking_gains` for the knot interval; 0 is deadbeat);
        retry_tracking_pole: where the tracking pass diverges (its held controls saturate and a light
            segment swings up), it is run once more with this looser pole before the window falls back
            (None: no retry); measured in docs/results.md.
        contact_iterations: fixed-point passes per interval for the tracking pass's contact forces
            (without ``plan_contacts``).
        plan_contacts: the tracking pass plans ground forces under the stance feet (friction pyramid
            ``plan_friction``, :func:`planned_contact_force`) so that the feet, not the residual root
            actuators, carry the body (measured in docs/results.md).
        max_deviation: a window whose simulated joints are farther than this (mean, metres) from the
            kinematic estimate is treated as failed (fell, lost tracking) and falls back.
        smooth_sigma: Gaussian smoothing (frames) of the kinematic reference for the initialization.
        ground_snap: ground the reference's root height where the lowest sole is within this many
            metres of z = 0 (0: off); see :func:`ground_root_height`.
        refine_iterations: L-BFGS iterations of each refinement of the reference before tracking
            (:mod:`phymo.physics.reference`: the kinematic estimate refined on the window loss's kinematic
            terms with ``reference_weights``; 0: track the grounded estimate as it is).
        pin_feet: detect stance on the reference (foot joint within ``pin_height`` m of its low height
            and slower than ``pin_speed`` m/s), pin each stance run at its median position, draw the
            reference's feet there (when refining) and score the simulated feet against the pins
            (``weights.foot_pin``); see :func:`phymo.physics.reference.stance_pins`.
        fit_ankle: fit the foot boxes' pitch to the estimate's standing ankle height
            (``BodyConfig.ankle_height`` from :func:`estimate_foot`, when ``body`` leaves it None). On the
            mocap validation split it lowers MPJPE and foot skating (0.429 -> 0.388) for one more lost
            window in 16 (docs/results.md).
        threads: Jacobian threads (None: all available CPUs).
        reuse_tol: reuse the previous iteration's transition Jacobians when no state moved more than
            this (tangent units; 0: never) -- see :class:`~phymo.physics.adjoint.Simulator`.
        body: the humanoid; weights: loss weights of the windows; reference_weights: of the reference's
            refinement (stiffer pins, smoother: it has no physics to hold the feet or filter jitter).
    """

    window: int = 15
    overlap: int = 3
    substeps: int = 7
    knot_every: int = 1
    interp: str = "hold"
    iterations: int = 6
    lr: float = 1e-3
    learned_step_scale: float = 1e-3
    tracking_pole: float = 0.3
    retry_tracking_pole: float | None = 0.6
    contact_iterations: int = 1
    plan_contacts: bool = True
    plan_friction: float = 0.7
    max_deviation: float = 0.12
    reuse_tol: float = 0.0
    smooth_sigma: float = 1.5
    ground_snap: float = 0.04
    refine_iterations: int = 50
    pin_feet: bool = True
    pin_height: float = 0.08
    pin_speed: float = 1.0
    fit_ankle: bool = True
    threads: int | None = None
    body: BodyConfig = BodyConfig()
    weights: LossWeights = LossWeights()
    reference_weights: LossWeights = LossWeights(foot_pin=1e3, smooth_pos=1e-3)

    def __post_init__(self) -> None:
        if self.plan_friction <= 0:
            raise ValueError(f"plan_friction must be > 0 (a friction coefficient), got {self.plan_friction}")
        if self.refine_iterations < 0:
            raise ValueError(f"refine_iterations must be >= 0 (0: no refinement), got {self.refine_iterations}")
        for name in ("tracking_pole", "retry_tracking_pole"):
            pole = getattr(self, name)
            if pole is not None and not 0.0 <= pole < 1.0:
                raise ValueError(f"{name} must be in [0, 1) (a closed-loop pole), got {pole}")

    def key(self) -> str:
        d = dataclasses.asdict(self)
        d.pop("threads")
        return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:16]


@dataclass
class Reconstruction:
    """Result: the physics motion, per-frame simulation state and actuation, plus one record per window.

    ``torques`` are the actuator outputs applied from each frame on (ctrl times gear: N m for the hinges,
    in ``Body.actuator_names`` order, then N and N m for the residual root actuators); NaN on frames
    that fell back to the kinematic estimate. Each window record carries its ``loss_history``.
    """

    motion: Motion
    qpos: np.ndarray  # (T, nq)
    qvel: np.ndarray  # (T, nv)
    torques: np.ndarray  # (T, nu)
    actuator_names: list[str]
    num_residual: int = 0
    windows: list[dict] = field(default_factory=list)

    @property
    def residual_force(self) -> np.ndarray:
        """``(T,)`` magnitude of the residual root force, N (zeros without residual actuators)."""
        if self.num_residual == 0:
            return np.zeros(len(self.torques))
        return np.linalg.norm(self.torques[:, -self.num_residual:][:, :3], axis=1)


def window_starts(num_frames: int, window: int, overlap: int) -> list[int]:
    if not 0 <= overlap < window:
        raise ValueError(f"need 0 <= overlap < window, got overlap={overlap}, window={window}")
    if num_frames <= window:
        return [0]
    step = window - overlap
    starts = list(range(0, num_frames - window, step))
    return starts + [max(num_frames - window, starts[-1] + 1)] if starts[-1] + window < num_frames else starts


def reference_state(body: Body, kinematic: Motion, sigma: float,
                    ground_snap: float = 0.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Smoothed reference ``qpos (T, nq)``, ``qvel (T, nv)``, ``qacc (T, nv)`` of a kinematic motion.

    With ``ground_snap > 0`` the root height is first grounded (:func:`ground_root_height`).
    """
    q = motion_to_qpos(body, kinematic)
    if ground_snap > 0:
        q[:, 2] = ground_root_height(body, q, ground_snap)
    quat = q[:, 3:7]
    for i in range(1, len(quat)):  # sign continuity before smoothing
        if np.dot(quat[i], quat[i - 1]) < 0:
            quat[i:] *= -1
    q = smooth_frames(q, sigma)
    q[:, 3:7] /= np.linalg.norm(q[:, 3:7], axis=1, keepdims=True)
    dt = 1.0 / kinematic.fps
    v = qpos_to_qvel(body, q, dt)
    a = np.gradient(v, dt, axis=0) if len(v) > 1 else np.zeros_like(v)
    return q, v, a


def tracking_gains(pole: float, interval_s: float) -> tuple[float, float]:
    """PD gains ``(kp 1/s^2, kd 1/s)`` placing both closed-loop poles of a sampled double integrator
    (control held over ``interval_s``) at ``pole`` in [0, 1) (0: deadbeat)."""
    return (1 - pole) ** 2 / interval_s ** 2, (1 - pole) * (3 + pole) / (2 * interval_s)


def planned_contact_force(m: mujoco.MjModel, data: mujoco.MjData, sites: np.ndarray, root_wrench: np.ndarray,
                          friction: float) -> np.ndarray:
    """Generalized force ``(nv,)`` of ground forces under the MuJoCo sites ``sites`` (the stance foot
    joints) that best supply ``root_wrench`` (the 6 root rows of the force the motion needs).

    Each site gets a point of support on the ground below it; its force lies in a four-sided friction
    pyramid (coefficient ``friction``), found by non-negative least squares (lightly damped so that
    redundant supports share the load). What the feet cannot supply (pulling, or a wrench no stance can
    give) stays with the residual root actuators.
    """
    if len(sites) == 0:
        return np.zeros(m.nv)
    edges = np.array([[friction, 0, 1], [-friction, 0, 1], [0, friction, 1], [0, -friction, 1]])
    jac = np.zeros((3, m.nv))
    columns = []
    for sid in sites:
        point = data.site_xpos[sid].copy()
        point[2] = 0.0
        mujoco.mj_jac(m, data, jac, None, point, m.site_bodyid[sid])
        columns.append(jac.T @ edges.T)  # (nv, 4): generalized force per unit edge force
    basis = np.concatenate(columns, axis=1)
    beta, _ = scipy.optimize.nnls(np.vstack([basis[:6], 1e-3 * np.eye(basis.shape[1])]),
                                  np.concatenate([root_wrench, np.zeros(basis.shape[1])]))
    return basis @ beta


def tracking_knots(sim: Simulator, qref, vref, aref, qpos0, qvel0, kp: float, kd: float,
                   contact_iterations: int = 1, stance: np.ndarray | None = None,
                   friction: float = 0.7) -> np.ndarray:
    """Control knots from a computed-torque tracking rollout of the reference frames.

    With ``hold`` interpolation knot ``k`` is computed from the simulated state at knot ``k``; with
    ``linear`` knot ``k+1`` from the state at knot ``k`` extrapolated to knot ``k+1``. Either way rolling
    the knots out open-loop reproduces this tracking pass exactly. Contact forces are taken from the
    interval itself by ``contact_iterations`` fixed-point passes (mean generalized constraint force);
    the residual root actuators take what the contacts do not provide.

    With ``stance (F, 4)`` (foot joints in ground contact per frame) the contact forces are planned
    instead (:func:`planned_contact_force`, for stance feet within ``CONTACT_GAP``
    of their standing height): the legs push on the ground so that the contacts carry the body;
    otherwise a body that starts off the ground settles with the residual holding its weight.
    """
    m, d, body = sim.model, mujoco.MjData(sim.model), sim.body
    foot_sites = body.site_ids[body.foot_sites()]
    contact_height = body.foot_heights() + CONTACT_GAP
    frames = knot_frames(sim.num_frames, sim.knot_every)
    knots = np.zeros((len(frames), m.nu))
    nj = m.nu - body.num_residual

    def control(q, v, f, qfrc_contact):
        err = np.zeros(m.nv)
        mujoco.mj_differentiatePos(m, err, 1.0, q, qref[f])
        d.qpos[:], d.qvel[:] = q, v
        mujoco.mj_forward(m, d)
        qfrc = np.zeros(m.nv)
        mujoco.mj_mulM(m, d, qfrc, aref[f] + kp * err + kd * (vref[f] - v))
        qfrc += d.qfrc_bias - d.qfrc_passive
        if stance is None:
            qfrc -= qfrc_contact
        else:
            down = d.site_xpos[foot_sites, 2] <= contact_height
            qfrc -= planned_contact_force(m, d, foot_sites[stance[f] & down], qfrc[:6], friction)
        u = np.zeros(m.nu)
        u[:nj] = qfrc[6:] / body.gear[:nj]
        if body.num_residual:
            u[nj:] = qfrc[:6] / body.gear[nj:]
        return np.clip(u, -1.0, 1.0)

    q, v = np.array(qpos0, dtype=np.float64), np.array(qvel0, dtype=np.float64)
    mujoco.mj_resetData(m, d)
    d.qpos[:], d.qvel[:] = q, v
    mujoco.mj_forward(m, d)
    contact = d.qfrc_constraint.copy()
    knots[0] = control(q, v, frames[0], contact)
    for k in range(len(frames) - 1):
        steps = range(frames[k] * sim.substeps, frames[k + 1] * sim.substeps)
        for _ in range(contact_iterations):  # fixed point: the interval's contact force given its control
            if sim.interp == "hold":
                knots[k] = control(q, v, frames[k], contact)
            else:  # knot k+1 acts later: aim from the state predicted at the next knot
                qp = q.copy()
                mujoco.mj_integratePos(m, qp, v, (frames[k + 1] - frames[k]) / sim.fps)
                knots[k + 1] = control(qp, v, frames[k + 1], contact)
            mujoco.mj_resetData(m, d)
            d.qpos[:], d.qvel[:] = q, v
            contact = np.zeros(m.nv)
            for step in steps:
                d.ctrl[:] = sim.W[step] @ knots
                mujoco.mj_step(m, d)
                check_state(m, d, step)
                contact += d.qfrc_constraint / len(steps)
        q, v = d.qpos.copy(), d.qvel.copy()
    if sim.interp == "hold" and len(knots) > 1:
        knots[-1] = knots[-2]  # unused by a hold; keeps the smoothness term quiet
    return knots


def _bad_input(obs: Observations) -> str | None:
    if not (np.all(np.isfinite(obs.keypoints_2d)) and np.all(np.isfinite(obs.confidence))):
        return "non-finite keypoints or confidences"
    if obs.kinematic is None:
        return "no kinematic estimate"
    if not (np.all(np.isfinite(obs.kinematic.rotations)) and np.all(np.isfinite(obs.kinematic.root_translation))):
        return "non-finite kinematic estimate"
    if not np.any(obs.confidence > 0):
        return "no keypoint with confidence > 0"
    return None


@dataclass
class WindowProblem:
    """One window's optimization problem over the control knots ``(K, nu)``, normalized to [-1, 1].

    ``knots0`` come from the tracking pass, so their rollout already follows the reference;
    :meth:`loss` is differentiable in the knots through the adjoint. Call :meth:`close` when done
    (it stops the Jacobian threads).
    """

    sim: Simulator
    qpos0: np.ndarray
    state0: torch.Tensor  # initial tangent state: zero position offset from qpos0, then qvel0
    targets: WindowTargets
    weights: LossWeights
    knots0: np.ndarray
    reference_positions: np.ndarray  # (F, J, 3)

    def loss(self, knots: torch.Tensor) -> tuple[torch.Tensor, dict]:
        """:func:`~phymo.physics.loss.window_loss` of the rollout of ``knots``; raises ``SimulationDiverged``."""
        return window_loss(simulate(self.sim, self.qpos0, self.state0, knots), knots, self.targets, self.weights)

    def close(self) -> None:
        self.sim.close()


def window_problem(body: Body, obs: Observations, config: ReconstructConfig, qpos0: np.ndarray | None = None,
                   qvel0: np.ndarray | None = None, reference: Motion | None = None,
                   pins: tuple[np.ndarray, np.ndarray] | None = None) -> WindowProblem:
    """The problem of one window of ``obs`` (valid input, at least 2 frames): simulator, loss targets and the
    tracking pass's knots. ``reference`` (default ``obs.kinematic``) is tracked and scored against in 3D;
    ``pins`` are :func:`phymo.physics.reference.stance_pins` for the window's frames; the start state
    defaults to the reference's. Raises ``SimulationDiverged`` when the tracking pass blows up with
    ``config.tracking_pole`` and with ``config.retry_tracking_pole``."""
    f = obs.num_frames
    ref = obs.kinematic if reference is None else reference
    qref, vref, aref = reference_state(body, ref, config.smooth_sigma, config.ground_snap)
    qpos0 = qref[0] if qpos0 is None else qpos0
    qvel0 = vref[0] if qvel0 is None else qvel0
    sim = Simulator(body, f, obs.fps, config.substeps, config.knot_every, config.interp, config.threads,
                    reuse_tol=config.reuse_tol)
    ref_pos = ref.positions()
    targets = WindowTargets.from_arrays(obs.keypoints_2d, obs.confidence, ref_pos, obs.camera,
                                        obs.fps, body.foot_sites(), body.nu - body.num_residual,
                                        body.foot_heights(), *(pins if pins is not None else (None, None)))
    stance = None if pins is None or not config.plan_contacts else pins[1] > 0.5
    poles = [config.tracking_pole] + ([config.retry_tracking_pole] if config.retry_tracking_pole is not None else [])
    for attempt, pole in enumerate(poles):
        try:
            kp, kd = tracking_gains(pole, config.knot_every / obs.fps)
            knots0 = tracking_knots(sim, qref, vref, aref, qpos0, qvel0, kp, kd, config.contact_iterations,
                                    stance, config.plan_friction)
            break
        except SimulationDiverged as e:
            if attempt == len(poles) - 1:
                sim.close()
                raise
            log.warning("window at frame %s: the tracking pass diverged with pole %.2f (%s); retrying with %.2f",
                        obs.meta.get("frame_offset", 0), pole, e, poles[attempt + 1])
    return WindowProblem(sim, qpos0, torch.as_tensor(np.concatenate([np.zeros(body.nv), qvel0])), targets,
                         config.weights, knots0, ref_pos)


def reconstruct_window(body: Body, obs: Observations, config: ReconstructConfig, qpos0: np.ndarray | None,
                       qvel0: np.ndarray | None, optimizer: OptimizerFactory | None = None,
                       reference: Motion | None = None, pins: tuple[np.ndarray, np.ndarray] | None = None) -> dict:
    """One window: returns ``qpos (F, nq)``, ``qvel (F, nv)``, ``knots``, losses, and ``fallback`` (reason or '').

    The problem is :func:`window_problem`'s (same ``reference`` and ``pins``); ``config.iterations`` steps of
    ``optimizer`` improve the knots, and the best iterate is kept. A fallback returns ``obs.kinematic``.
    """
    f = obs.num_frames
    reason = _bad_input(obs)
    if reason is None and f < 2:
        reason = "window shorter than 2 frames"
    if reason is not None:
        return _fallback(body, obs, reason)
    try:
        problem = window_problem(body, obs, config, qpos0, qvel0, reference, pins)
    except SimulationDiverged as e:
        return _fallback(body, obs, f"physics blow-up: {e}")
    sim = problem.sim
    try:
        knots = torch.tensor(problem.knots0, requires_grad=True)
        opt = (optimizer or adam(config.lr))(knots)
        best = {"loss": np.inf}
        history = []

        def closure():
            knots.grad = None
            loss, terms = problem.loss(knots)
            loss.backward()
            lv = float(loss.detach())
            history.append(lv)
            if lv < best["loss"]:
                best.update(loss=lv, knots=knots.detach().clone(), terms=terms)
            return loss

        try:
            for _ in range(config.iterations):
                opt.step(closure)
                with torch.no_grad():
                    knots.clamp_(-1.0, 1.0)
            with torch.no_grad():  # the last step's iterate, not evaluated by any closure yet
                lv, terms = problem.loss(knots)
            if float(lv) < best["loss"]:
                best.update(loss=float(lv), knots=knots.detach().clone(), terms=terms)
        except SimulationDiverged as e:  # a step (the last one included) went too far: keep the best iterate
            log.warning("window at frame %s: optimizer step diverged (%s); keeping the best iterate",
                        obs.meta.get("frame_offset", 0), e)
        sim.run(problem.qpos0, problem.state0.numpy(), best["knots"].numpy())
    except SimulationDiverged as e:
        problem.close()
        return _fallback(body, obs, f"physics blow-up: {e}")
    qpos, qvel = sim.last["qpos"][::config.substeps], sim.last["qvel"][::config.substeps]
    ctrl = sim.last["ctrl"][np.minimum(np.arange(f) * config.substeps, len(sim.last["ctrl"]) - 1)]
    deviation = float(np.linalg.norm(sim.frame_positions(sim.last["qpos"]) - problem.reference_positions,
                                     axis=-1).mean())
    problem.close()
    if deviation > config.max_deviation:
        return _fallback(body, obs, f"simulation left the kinematic estimate by {deviation:.3f} m on average "
                                    f"(> max_deviation {config.max_deviation} m): the body fell or lost tracking")
    return {"qpos": qpos, "qvel": qvel, "torques": ctrl * body.gear, "knots": best["knots"].numpy(),
            "loss": best["loss"], "loss_history": np.array(history), "terms": best["terms"], "fallback": ""}


def _fallback(body: Body, obs: Observations, reason: str) -> dict:
    log.warning("physics window at frame %s falls back to the kinematic estimate: %s",
                obs.meta.get("frame_offset", 0), reason)
    if obs.kinematic is None:
        raise ValueError("cannot fall back: the observations carry no kinematic estimate")
    q = np.nan_to_num(motion_to_qpos(body, obs.kinematic))
    q[:, 3:7] /= np.maximum(np.linalg.norm(q[:, 3:7], axis=1, keepdims=True), 1e-12)
    bad = np.linalg.norm(q[:, 3:7], axis=1) < 0.5
    q[bad, 3:7] = (1.0, 0.0, 0.0, 0.0)
    return {"qpos": q, "qvel": qpos_to_qvel(body, q, 1.0 / obs.fps), "torques": np.full((len(q), body.nu), np.nan),
            "knots": np.zeros((0, body.nu)),
            "loss": np.nan, "loss_history": np.zeros(0), "terms": {}, "fallback": reason}


def estimate_foot(kinematic: Motion, percentile: float = 10.0) -> tuple[float | None, float | None]:
    """``(sole_clearance, ankle_height)`` of a standing foot in a motion (metres, see :class:`BodyConfig`).

    The clearance is the lower toe's ``percentile`` height above z = 0 (>= 0), so that the simulated
    ground agrees with the estimate's. The ankle stands above the toe joint by the median of
    ``ankle z - toe z`` over the frames where that foot's toe is at its lowest fifth (both feet pooled),
    kept within the reach of the toe from the ankle. None where the motion has no finite foot: the
    body's defaults then apply.
    """
    sk = kinematic.skeleton
    p = kinematic.positions()
    toes = [sk.index(n) for n in ("left_toe", "right_toe")]
    z = p[:, toes, 2].min(axis=1)
    z = z[np.isfinite(z)]
    if not z.size:
        return None, None
    clearance = float(max(0.0, np.percentile(z, percentile)))
    drops = []
    for side in ("left", "right"):
        ankle, toe = p[:, sk.index(f"{side}_ankle"), 2], p[:, sk.index(f"{side}_toe"), 2]
        ok = np.isfinite(ankle) & np.isfinite(toe)
        if ok.any():
            low = ok & (toe <= np.percentile(toe[ok], 20))
            drops.append(ankle[low] - toe[low])
    if not drops:
        return clearance, None
    reach = float(np.hypot(*sk.offsets[sk.index("left_toe"), [0, 2]]))
    return clearance, clearance + float(np.clip(np.median(np.concatenate(drops)), 0.0, MAX_FOOT_DROP * reach))


def fitted_body(kinematic: Motion, config: BodyConfig | None = None, fit_ankle: bool = False) -> Body:
    """The humanoid on ``kinematic``'s skeleton, with the sole clearance (and with ``fit_ankle`` the ankle
    height) fitted to the motion (:func:`estimate_foot`) where ``config`` leaves them None."""
    config = config or BodyConfig()
    clearance, ankle = estimate_foot(kinematic)
    fit = {k: v for k, v in (("sole_clearance", clearance), ("ankle_height", ankle if fit_ankle else None))
           if v is not None and getattr(config, k) is None}
    if fit:
        config = dataclasses.replace(config, **fit)
        log.info("feet fitted to the kinematic estimate: %s", ", ".join(f"{k} {v:.3f} m" for k, v in fit.items()))
    return build_body(kinematic.skeleton, config)


def _input_hash(obs: Observations) -> str:
    h = hashlib.sha256()
    for a in (obs.keypoints_2d, obs.confidence, obs.kinematic.root_translation, obs.kinematic.rotations):
        h.update(np.ascontiguousarray(a).tobytes())
    h.update(json.dumps(obs.camera.to_dict(), sort_keys=True).encode() + str(obs.fps).encode())
    return h.hexdigest()[:16]


def reconstruct(obs: Observations, config: ReconstructConfig = ReconstructConfig(),
                optimizer: OptimizerFactory | None = None, cache_dir: str | Path | None = None,
                body: Body | None = None) -> Reconstruction:
    """Physics reconstruction of a whole sequence (see the module docstring).

    Args:
        obs: keypoints, confidences, camera and the kinematic estimate (required) of one person.
        config: windowing/optimization settings; optimizer: a factory ``tensor -> Optimizer``
            (default :func:`adam` with ``config.lr``).
        cache_dir: where finished windows are stored under a hash of the input and config.
        body: a prebuilt humanoid (default: :func:`fitted_body` of the kinematic estimate and ``config.body``).
    """
    if obs.kinematic is None:
        raise ValueError("physics reconstruction needs observations with a kinematic estimate (obs.kinematic)")
    # BLAS and torch on one thread: the arrays here are small, and a multi-threaded reduction sums in an
    # order that depends on the thread count (Ray workers get 1); contact dynamics amplify the last-bit
    # differences into different results.
    torch_threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with threadpool_limits(limits=1, user_api="blas"):
            return _reconstruct(obs, config, optimizer, cache_dir, body)
    finally:
        torch.set_num_threads(torch_threads)


def _reconstruct(obs: Observations, config: ReconstructConfig, optimizer: OptimizerFactory | None,
                 cache_dir: str | Path | None, body: Body | None) -> Reconstruction:
    if body is None:
        body = fitted_body(obs.kinematic, config.body, config.fit_ankle)
    t = obs.num_frames
    cache = None
    if cache_dir is not None:
        cache = Path(cache_dir) / f"{CACHE_VERSION}-{config.key()}-{_input_hash(obs)}"
        cache.mkdir(parents=True, exist_ok=True)
        (cache / "config.json").write_text(json.dumps(dataclasses.asdict(config), indent=1))
    qpos, qvel, torques = np.zeros((t, body.nq)), np.zeros((t, body.nv)), np.zeros((t, body.nu))
    records, state = [], None
    reference, pins, stance = tracking_reference(body, obs, config.ground_snap, config.refine_iterations,
                                                 config.reference_weights, config.pin_feet, config.pin_height,
                                                 config.pin_speed)
    starts = window_starts(t, config.window, config.overlap)
    for i, s in enumerate(starts):
        e = min(s + config.window, t)
        path = None if cache is None else cache / f"window_{i:04d}.npz"
        if path is not None and path.exists():
            with np.load(path) as z:
                res = {k: z[k] for k in z.files}
            res["fallback"] = str(res["fallback"])
            res["cached"] = True
        else:
            q0, v0 = (None, None) if state is None else state
            res = reconstruct_window(body, obs.slice(s, e), config, q0, v0, optimizer, reference.slice(s, e),
                                     None if pins is None else (pins[s:e], stance[s:e].astype(np.float64)))
            if path is not None:
                tmp = path.with_suffix(".tmp.npz")
                np.savez(tmp, **{k: v for k, v in res.items() if k != "terms"},
                         terms=json.dumps(res.get("terms", {})))
                tmp.replace(path)
        keep = 0 if i == 0 else (starts[i - 1] + config.window - s) // 2
        qpos[s + keep:e], qvel[s + keep:e] = res["qpos"][keep:], res["qvel"][keep:]
        torques[s + keep:e] = res["torques"][keep:]
        nxt = starts[i + 1] - s if i + 1 < len(starts) else None
        state = None if (res["fallback"] or nxt is None) else (res["qpos"][nxt], res["qvel"][nxt])
        records.append({"start": s, "stop": e, "used_from": s + keep, "loss": float(res["loss"]),
                        "fallback": res["fallback"], "cached": bool(res.get("cached", False)),
                        "loss_history": [float(v) for v in res["loss_history"]]})
    for i, r in enumerate(records):  # frames of the output that come from each window
        r["used_to"] = records[i + 1]["used_from"] if i + 1 < len(records) else t
    return Reconstruction(qpos_to_motion(body, qpos, obs.fps), qpos, qvel, torques, body.actuator_names,
                          body.num_residual, records)
