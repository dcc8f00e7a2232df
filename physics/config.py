"""Settings of the physics reconstruction, grouped by what they steer; each default is written here once.

Every dataclass validates itself when it is made, so a setting that cannot work is refused before any
work starts, in one message naming the setting and its valid range (:class:`ConfigError`). The command
line takes its defaults and help from these fields (:mod:`phymo.app.commands.options`). How a window's plan is
refined (the optimizer, its step budget and step size) belongs to the optimizer:
:class:`phymo.optimizer.OptimizerConfig`.

The defaults of :class:`ServoConfig` and :class:`PlannerConfig` were chosen on the training split of the
mocap corpus with the true motion as the reference (``phymo bench own-feet``), then checked on the
validation split (docs/results.md, "The body stands on its own").
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from dataclasses import dataclass, field

from phymo.data import ConfigError, check_range


@dataclass(frozen=True)
class BodyConfig:
    """Body and world parameters of the simulated humanoid (:mod:`phymo.physics.body`).

    Attributes:
        height: standing height in metres the skeleton is scaled to; None keeps the skeleton's size.
        mass: total body mass, kg.
        friction: sliding friction coefficient between the feet and the ground.
        armature: rotor inertia added to every hinge, kg m^2 (stabilizes light segments).
        damping: passive hinge damping, N m s / rad (the servo adds its own).
        solver_iterations: constraint solver iterations (Newton; 10 cost 26 % less than 20 and changed no
            tracking figure measurably, research note (e)).
        residual_force: force limit of the residual root actuators, N; the torque limit is a fifth of it in
            N m. They exist in every body but stay at zero unless a window is assisted
            (:class:`ReconstructConfig`).
        sole_clearance: height of the toe joints above the sole, m; None: 0.02 m scaled with height.
        ankle_height: height of the ankle joints above the ground when the foot stands flat, m; None: the
            rest pose's. Motion capture skeletons stand with the ankle rotated away from their rest pose; a
            foot built for the rest pose then stands on its toes. Reconstruction estimates it
            (``ReconstructConfig.fit_ankle``).
    """

    height: float | None = None
    mass: float = 70.0
    friction: float = 1.0
    armature: float = 0.02
    damping: float = 2.0
    solver_iterations: int = 10
    residual_force: float = 3000.0
    sole_clearance: float | None = None
    ankle_height: float | None = None

    def __post_init__(self) -> None:
        check_range("mass", self.mass, 0.0, strict_low=True)
        check_range("friction", self.friction, 0.0, strict_low=True)
        check_range("solver_iterations", self.solver_iterations, 1)


@dataclass(frozen=True)
class ServoConfig:
    """The PD servo on every hinge, integrated by MuJoCo at every sub-step (position actuators, implicitfast).

    Each hinge's gains put its servo at ``frequency`` with ``damping_ratio`` for the hinge's effective
    inertia ``1 / (M^-1)_jj`` (the joint-space inertia seen from the hinge, the median over the motion):
    ``kp = I w^2``, ``kv = 2 zeta I w``. Measured with the root held on the reference (true mocap walk):
    10 / 15 / 20 / 30 Hz track the hinges to 1.8 / 0.9 / 0.6 / 0.2 degrees (27 / 13 / 7.7 / 4.2 mm).

    Attributes:
        frequency: natural frequency of every hinge's servo, Hz.
        damping_ratio: its damping ratio (1: critically damped).
    """

    frequency: float = field(default=20.0, metadata={"help": "natural frequency of the joint servos, Hz"})
    damping_ratio: float = 1.0

    def __post_init__(self) -> None:
        check_range("frequency", self.frequency, 0.0, strict_low=True)
        check_range("damping_ratio", self.damping_ratio, 0.0, strict_low=True)


@dataclass(frozen=True)
class SimulationConfig:
    """Time discretization of the simulation and its gradient.

    Attributes:
        max_timestep: the longest simulation step, s; a frame is cut into ``ceil(1 / (fps max_timestep))``
            sub-steps (4 at 30 fps, 2 at 60 fps). Contacts need a step of at most half their time
            constant (0.02 s).
        threads: threads for batched rollouts and transition Jacobians (None: all available CPUs). The
            result does not depend on it.
    """

    max_timestep: float = field(default=1 / 120, metadata={"help": "longest simulation step, s"})
    threads: int | None = field(default=None, metadata={"help": "simulation threads (default: all CPUs)"})

    def __post_init__(self) -> None:
        check_range("max_timestep", self.max_timestep, 0.0, 0.01, strict_low=True)
        if self.threads is not None:
            check_range("threads", self.threads, 1)

    def substeps(self, fps: float) -> int:
        """Simulation steps per video frame at ``fps``."""
        return max(1, math.ceil(1.0 / (fps * self.max_timestep) - 1e-9))


@dataclass(frozen=True)
class PlannerConfig:
    """The receding-horizon sampling planner that gives every window its start (:mod:`phymo.physics.planner`).

    From the window's start state it plans ``horizon`` seconds ahead by the cross-entropy method over servo
    target offsets of the balance hinges, executes the first ``commit`` seconds, and plans again.

    Attributes:
        horizon: look-ahead, s; extended to the landing where the reference is in flight (at most twice).
        knots: control knots over the horizon (linear in between; the first is the executed control).
        samples: rollouts per iteration (batched in C by ``mujoco.rollout``).
        iterations: cross-entropy iterations per plan.
        sigma: initial sampling spread of the target offsets, rad.
        elite: share of the samples whose mean and spread make the next iteration's distribution.
        commit: time executed from each plan before planning again, s.
        control_cost: weight of the squared target offsets (rad^2) in the plan's cost.
        seed: seed of the sampling (each window draws from its own stream, so a resumed run is identical).
    """

    horizon: float = field(default=0.5, metadata={"help": "planner look-ahead, s"})
    knots: int = 4
    samples: int = field(default=64, metadata={"help": "planner rollouts per iteration"})
    iterations: int = field(default=6, metadata={"help": "planner iterations per plan"})
    sigma: float = 0.1
    elite: float = 0.1
    commit: float = 1 / 15
    control_cost: float = 10.0
    seed: int = 0

    def __post_init__(self) -> None:
        check_range("horizon", self.horizon, 0.0, strict_low=True)
        check_range("knots", self.knots, 2)
        check_range("samples", self.samples, 2)
        check_range("iterations", self.iterations, 1)
        check_range("sigma", self.sigma, 0.0, strict_low=True)
        check_range("elite", self.elite, 0.0, 1.0, strict_low=True)
        check_range("commit", self.commit, 0.0, self.horizon, strict_low=True)
        check_range("control_cost", self.control_cost, 0.0)

    def frames(self, fps: float) -> tuple[int, int]:
        """``(horizon, commit)`` in frames at ``fps`` (at least 2 and 1)."""
        return max(2, round(self.horizon * fps)), max(1, round(self.commit * fps))


@dataclass(frozen=True)
class WindowConfig:
    """How a sequence is cut into windows, and when a window's result is kept.

    Attributes:
        window: frames per window; each window's loss sees all of them.
        overlap: frames a window looks past the start of the next one. The output takes a window's frames
            up to the next window's start, and the next window starts from this window's simulated state
            there, so windows join without a jump in pose or velocity.
        max_deviation: a window whose simulated pose is farther than this (mean over joints and frames,
            root-aligned, metres) from the reference's lost it: it is solved again (:mod:`phymo.physics.window`).
            0.04, chosen on the mocap validation split (0.12 / 0.06 / 0.04: MPJPE 33.5 / 31.8 / 29.7 mm,
            skating 0.52 / 0.42 / 0.45, residual-free windows 100 / 100 / 96 %): looser, the body keeps its
            balance its own way and leaves the person in the image.
    """

    window: int = field(default=15, metadata={"help": "frames per physics window"})
    overlap: int = field(default=3, metadata={"help": "frames a physics window looks past the next window's start"})
    max_deviation: float = field(default=0.04, metadata={
        "help": "mean root-aligned distance (m) from the reference beyond which a window counts as lost"})

    def __post_init__(self) -> None:
        check_range("window", self.window, 2)
        check_range("overlap", self.overlap, 0, self.window - 1, hint=f"less than window ({self.window})")
        check_range("max_deviation", self.max_deviation, 0.0, strict_low=True)


@dataclass(frozen=True)
class LossWeights:
    """Weights of the window loss terms (each term is a mean, so weights are comparable across windows).

    Attributes:
        reproj: confidence-weighted Geman-McClure 2D reprojection error (dimensionless, in [0, 1)).
        reproj_sigma_px: robust scale of the reprojection error, pixels.
        kin_global: squared distance to the reference's 3D joints, world frame, per m^2.
        kin_relative: the same after subtracting the root (pelvis) position, per m^2.
        offset: mean squared servo target offset from the reference, per rad^2.
        residual: mean squared normalized residual root force/torque (force / residual limit).
        skating: squared horizontal foot speed (m/s)^2 weighted by the reference's contact (its stance, or
            else a soft test of its foot joints' heights against :data:`phymo.data.metrics.FOOT_CONTACT`).
            Taken from the reference, not the simulation, so that lifting a foot buys nothing.
        foot_pin: squared horizontal distance (m^2) of a foot joint from its pinned stance position, in the
            frames where the reference has it in stance.
        penetration: squared depth (m^2) of any joint below the ground plane z = 0.
        plan: squared distance (m^2) of the joints' centroid and of the foot joints from the planner's: the
            refinement adjusts the pose but keeps the balance the planner found looking further ahead.
        smooth_ctrl: squared second difference of the control variables.
        smooth_pos: squared joint acceleration, (m/s^2)^2.
    """

    reproj: float = 10.0
    reproj_sigma_px: float = 20.0
    kin_global: float = 30.0
    kin_relative: float = 30.0
    offset: float = 1e-2
    residual: float = 1e-1
    skating: float = 1.0
    foot_pin: float = 100.0
    penetration: float = 1e4
    plan: float = 1e3
    smooth_ctrl: float = 1e-2
    smooth_pos: float = 1e-5


@dataclass(frozen=True)
class ReferenceConfig:
    """How the kinematic estimate becomes the reference the physics tracks (:mod:`phymo.physics.reference`).

    Attributes:
        ground_snap: ground the root height where the lowest sole is within this many metres of z = 0
            (0: off).
        refine_iterations: L-BFGS iterations of each refinement of the reference on the loss's kinematic
            terms (0: track the grounded estimate as it is).
        pin_speed: a foot joint in contact (:data:`phymo.data.metrics.FOOT_CONTACT`) and slower than this
            (m/s) for 3 frames or more is in stance, pinned at its median position.
        smooth_sigma: Gaussian smoothing (frames) of the reference's joint angles before its velocities are
            taken and the servos track it, once per sequence.
        refine_weights: loss weights of the refinement (stiffer pins and smoother than a window's: the
            reference has no physics to hold the feet or filter jitter).
    """

    ground_snap: float = field(default=0.04, metadata={"help": "ground the reference where its sole is this close, m"})
    refine_iterations: int = field(default=50, metadata={"help": "L-BFGS iterations refining the reference"})
    pin_speed: float = field(default=1.0, metadata={"help": "speed under which a foot in contact is in stance, m/s"})
    smooth_sigma: float = field(default=1.5, metadata={"help": "smoothing of the tracked reference, frames"})
    refine_weights: LossWeights = LossWeights(foot_pin=1e3, smooth_pos=1e-3)

    def __post_init__(self) -> None:
        check_range("ground_snap", self.ground_snap, 0.0)
        check_range("refine_iterations", self.refine_iterations, 0)
        check_range("pin_speed", self.pin_speed, 0.0, strict_low=True)
        check_range("smooth_sigma", self.smooth_sigma, 0.0)


@dataclass(frozen=True)
class ReconstructConfig:
    """Everything the physics reconstruction of a sequence needs besides its input and its optimizer.

    Attributes:
        windows, simulation, servo, planner, reference: see their classes.
        body: the humanoid; weights: the window loss.
        fit_ankle: fit the feet's pitch to the estimate's standing ankle height
            (:func:`~phymo.physics.fit.fitted_body`).
        residual: allow the residual root force in every window (the behaviour before the body stood on its
            own). Without it a window uses the residual only as a rescue, after every residual-free attempt
            failed, and is reported as assisted.
    """

    windows: WindowConfig = WindowConfig()
    simulation: SimulationConfig = SimulationConfig()
    servo: ServoConfig = ServoConfig()
    planner: PlannerConfig = PlannerConfig()
    reference: ReferenceConfig = ReferenceConfig()
    body: BodyConfig = BodyConfig()
    weights: LossWeights = LossWeights()
    fit_ankle: bool = field(default=True, metadata={
        "help": "pitch the feet to the estimate's standing ankle height"})
    residual: bool = field(default=False, metadata={
        "help": "allow a residual root force in every window (default: only to rescue a window that falls)"})

    def key(self) -> str:
        """16 hex digits identifying every setting that changes a result (not the thread count)."""
        d = dataclasses.asdict(self)
        d["simulation"].pop("threads")
        return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:16]


__all__ = ["BodyConfig", "ConfigError", "LossWeights", "PlannerConfig", "ReconstructConfig", "ReferenceConfig",
           "ServoConfig", "SimulationConfig", "WindowConfig"]
