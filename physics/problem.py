"""The one window problem and its one builder.

:func:`prepare` fits the humanoid to a sequence's kinematic estimate and makes the reference it tracks
(:mod:`phymo.physics.reference`), once per sequence. :meth:`PreparedSequence.window` builds the problem of
any window of it: the planner (:mod:`phymo.physics.planner`) executes the window from its start state, and
the :class:`WindowProblem` is the window loss (:func:`~phymo.physics.objective.window_loss`) of the rollout of
servo target offsets from the reference (and, in an assisted window, the residual root controls),
differentiable through the adjoint, starting at what the planner executed. The reconstruction, the
evaluation's optimizer comparison, the benchmarks and meta-training all call this builder, so the loss an
optimizer is trained and judged on is the one the product minimizes.
"""

from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np
import torch

from phymo.data import Observations

from .adjoint import Simulator, Trajectory, default_threads, differentiable_rollout
from .body import NUM_RESIDUAL, ROOT_POS, Body, site_positions
from .config import LossWeights, ReconstructConfig
from .dynamics import BatchRollout
from .fit import fitted_body
from .objective import WindowTargets, window_loss
from .planner import Plan, Planner
from .reference import Reference, tracking_reference
from .refine import one_thread


@dataclass(frozen=True)
class WindowRollout:
    """The rollout of a solution over the window's ``F`` frames: ``qpos (F, nq)``, ``qvel (F, nv)``, the actuator
    forces applied from each frame on ``(F, nu)`` (N m; residual N and N m), the joint sites ``(F, J, 3)``, and
    the first frame where a body part other than the feet and hands touched the ground (None: none)."""

    qpos: np.ndarray
    qvel: np.ndarray
    forces: np.ndarray
    sites: np.ndarray
    touched_at: int | None


@dataclass
class WindowProblem:
    """The optimization problem of frames ``[start, stop)`` of a sequence (see the module docstring).

    The variable ``x (F, n)`` holds per-frame servo target offsets of every hinge (rad), then, in an assisted
    window, the residual root controls (normalized); ``x0`` is what the planner executed. ``state0`` is the
    start state in the tangent convention of :func:`differentiable_rollout` (zero position offset from
    ``qpos0``, then the velocity). Call :meth:`close` when done (it stops the Jacobian threads).
    """

    start: int
    stop: int
    body: Body
    sim: Simulator
    qpos0: np.ndarray
    state0: torch.Tensor
    targets: WindowTargets
    weights: LossWeights
    reference: Reference  # the window's frames
    plan: Plan
    assisted: bool

    @property
    def x0(self) -> np.ndarray:
        return self.plan.offsets if self.plan.residual is None else np.concatenate(
            [self.plan.offsets, self.plan.residual], axis=1)

    def knots(self, x: torch.Tensor) -> torch.Tensor:
        """Per-frame control knots ``(F, nu)`` of variables ``x``: the reference's servo targets plus offsets, then
        the residual controls."""
        nh = self.body.num_hinges
        targets = torch.as_tensor(self.reference.targets) + x[:, :nh]
        residual = x[:, nh:] if self.assisted else x.new_zeros((x.shape[0], NUM_RESIDUAL))
        return torch.cat([targets, residual], dim=1)

    def loss(self, x: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        """The window loss of the rollout of ``x`` and its unweighted terms; raises ``SimulationDiverged``."""
        pos = differentiable_rollout(self.sim, self.qpos0, self.state0, self.knots(x))
        nh = self.body.num_hinges
        return window_loss(pos, x[:, :nh], x[:, nh:] if self.assisted else None, self.targets, self.weights)

    def rollout(self, x: np.ndarray) -> WindowRollout:
        """The :class:`WindowRollout` of ``x``. Raises ``SimulationDiverged``."""
        sites, traj = self.sim.run(self.qpos0, self.state0.numpy(), self.knots(torch.as_tensor(x)).numpy())
        return _frames(self.body, traj, sites, self.sim.substeps)

    def close(self) -> None:
        self.sim.close()

    def __getstate__(self) -> dict:
        """Everything but the simulator, whose worker threads and MuJoCo data are rebuilt on load: a problem
        costs seconds of planning to build and loads from disk in milliseconds (meta-training's window pool)."""
        state = {k: v for k, v in self.__dict__.items() if k != "sim"}
        return {**state, "_sim": (self.sim.num_frames, self.sim.substeps, self.sim.threads, self.sim.eps)}

    def __setstate__(self, state: dict) -> None:
        frames, substeps, threads, eps = state.pop("_sim")
        self.__dict__.update(state)
        self.sim = Simulator(self.body, frames, substeps, threads, eps)


def _frames(body: Body, traj: Trajectory, sites: np.ndarray, substeps: int) -> WindowRollout:
    steps = np.arange(len(sites)) * substeps
    forces = traj.force[np.minimum(steps, len(traj.force) - 1)].copy()
    forces[:, body.num_hinges:] *= body.residual_gear  # MuJoCo's actuator force is before the gear
    return WindowRollout(traj.qpos[steps], traj.qvel[steps], forces, sites, touched_ground(body, traj.qpos[steps]))


def _floor_contacts(model: mujoco.MjModel, data: mujoco.MjData, qpos: np.ndarray) -> mujoco.MjData:
    """``data`` posed at ``qpos`` with its contacts found (the body's geoms collide only with the floor)."""
    data.qpos[:] = qpos
    mujoco.mj_kinematics(model, data)
    mujoco.mj_collision(model, data)
    return data


def touched_ground(body: Body, qpos: np.ndarray) -> int | None:
    """The first frame of ``qpos (F, nq)`` where a geom other than the feet's and the forearms' (which carry the
    hands) touches the floor, or None."""
    feet, hands = body.ground_geoms()
    allowed = feet | hands
    data = mujoco.MjData(body.model)
    for f, q in enumerate(qpos):
        _floor_contacts(body.model, data, q)
        if any(int(data.contact.geom[i, 1]) not in allowed and int(data.contact.geom[i, 0]) not in allowed
               for i in range(data.ncon)):
            return f
    return None


def above_floor(body: Body, qpos: np.ndarray) -> np.ndarray:
    """``qpos`` raised until no part of the body is under the floor: a window that starts from the reference starts
    standing on the ground, not in it (a kinematic estimate may put a foot several centimetres under the floor, and
    a knee touching it at the first frame would count as a fall)."""
    data = _floor_contacts(body.model, mujoco.MjData(body.model), qpos)
    depth = max((-float(data.contact.dist[i]) for i in range(data.ncon)), default=0.0)
    raised = np.array(qpos, dtype=np.float64)
    raised[ROOT_POS.start + 2] += max(depth, 0.0)
    return raised


def fell(body: Body, rollout: WindowRollout, reference: Reference) -> str | None:
    """Why the body of ``rollout`` fell, or None: its pelvis sank below half the reference's height, or a part
    other than its feet and hands touched the ground."""
    low = np.flatnonzero(rollout.qpos[:, ROOT_POS][:, 2] < 0.5 * reference.qpos[:, ROOT_POS][:, 2])
    if len(low):
        return f"the pelvis sank below half its reference height at window frame {int(low[0])}"
    if rollout.touched_at is not None:
        return f"a body part other than the feet and hands touched the ground at window frame {rollout.touched_at}"
    return None


@dataclass
class PreparedSequence:
    """A sequence made ready for its windows: observations, settings, the fitted humanoid and its reference
    (None where the kinematic estimate is not finite: every window falls back)."""

    obs: Observations
    config: ReconstructConfig
    body: Body
    reference: Reference | None

    @property
    def substeps(self) -> int:
        return self.config.simulation.substeps(self.obs.fps)

    @one_thread()
    def window(self, start: int, stop: int, state: tuple[np.ndarray, np.ndarray] | None = None,
               warm: np.ndarray | None = None, seed: int = 0, assisted: bool = False) -> WindowProblem:
        """The problem of frames ``[start, stop)``: the planner's execution and the loss around it.

        The simulation starts from ``state = (qpos, qvel)`` (default: the reference's state at ``start``);
        ``warm (n, num_hinges)`` are offsets for frames from ``start`` on to start planning from (the previous
        window's). ``seed`` selects the planner's random stream (with the configured seed and ``start``);
        ``assisted`` lets it use the residual root controls.
        Raises ``SimulationDiverged`` when the planner's execution diverges.
        """
        cfg, body, ref = self.config, self.body, self.reference
        qpos0, qvel0 = (above_floor(body, ref.qpos[start]), ref.qvel[start]) if state is None else state
        threads = cfg.simulation.threads or default_threads()
        rng = np.random.default_rng([cfg.planner.seed, start, seed])
        with BatchRollout(body.model, threads) as batch:
            plan = Planner(body, ref, cfg.planner, batch, self.substeps).plan(
                start, stop, qpos0, qvel0, rng, assisted=assisted, warm=warm)
        obs, window_ref = self.obs.slice(start, stop), ref.slice(start, stop)
        targets = WindowTargets.from_arrays(obs.keypoints_2d, obs.confidence, window_ref.sites, obs.camera, obs.fps,
                                            body.foot_sites(), window_ref.pins,
                                            None if window_ref.stance is None else window_ref.stance.astype(float),
                                            site_positions(body, plan.qpos))
        sim = Simulator(body, stop - start, self.substeps, threads=threads)
        state0 = torch.as_tensor(np.concatenate([np.zeros(body.nv), qvel0]))
        return WindowProblem(start, stop, body, sim, np.asarray(qpos0, dtype=np.float64), state0, targets, cfg.weights,
                             window_ref, plan, assisted)


def prepare(obs: Observations, config: ReconstructConfig, body: Body | None = None) -> PreparedSequence:
    """The :class:`PreparedSequence` of ``obs`` (which must carry a kinematic estimate); ``body`` defaults to
    :func:`~phymo.physics.fit.fitted_body` of the estimate. Runs on one thread (:func:`one_thread`)."""
    if obs.kinematic is None:
        raise ValueError("physics reconstruction needs observations with a kinematic estimate (obs.kinematic)")
    with one_thread():
        if body is None:
            timestep = 1.0 / (obs.fps * config.simulation.substeps(obs.fps))
            body = fitted_body(obs.kinematic, config.body, config.servo, timestep, config.fit_ankle)
        reference = tracking_reference(body, obs, config.reference)
    return PreparedSequence(obs, config, body, reference)
