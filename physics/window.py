"""One window, start to end: plan -> refine -> check, re-solved, rescued, or fallen back; a typed result.

:func:`solve_window` climbs a ladder of attempts (:data:`LADDER`) until one keeps the body up:

1. plan from the window's start state and refine the plan on the window loss;
2. the same from the reference's state instead (a jump at the seam, but physics);
3. **assisted**: the residual root force allowed, from the start state (rescue, never the default);
4. otherwise the kinematic estimate stands in (**fell back**).

More effort from the same start rarely helps: on the training split, a rung with twice the planner's samples
(and, at first, 1.5 times its horizon) rescued 1 of the 50 windows it was tried on, at twice a window's cost,
where the start from the reference's state rescued nearly all of them (docs/results.md).

An attempt fails when its simulation diverges, its body falls (:func:`~phymo.physics.problem.fell`) or it
loses the reference (:func:`lost`): its pose, root-aligned, farther than ``WindowConfig.max_deviation`` from
the reference's on average, or its joints farther than :data:`MAX_DRIFT` in the world. A body that tracks the
pose but has drifted a few centimetres is kept: jumping it back to the reference's state would be a seam no
physics makes, and where the reference floats, the body that landed is the right one. With
``ReconstructConfig.residual`` every attempt is assisted (the behaviour before the body stood on its own).
"""

from __future__ import annotations

import enum
import logging
from dataclasses import dataclass

import numpy as np

from phymo.data import G, Observations, metrics

from .body import NUM_RESIDUAL, ROOT_QUAT, Body, motion_to_qpos, qpos_to_qvel
from .dynamics import SimulationDiverged
from .problem import PreparedSequence, fell
from .refine import IterLog, Solver, one_thread, refine

log = logging.getLogger(__name__)


class WindowStatus(enum.Enum):
    """What became of a window."""

    OPTIMIZED = "optimized"  #: the first attempt was kept
    RESOLVED = "re-solved"  #: a later attempt without the residual was kept (``failures`` say why)
    ASSISTED = "assisted"  #: the residual root force was used (a rescue, or ``residual`` set)
    FELL_BACK = "fell back"  #: no attempt was kept: the kinematic estimate stands in


class Failure(enum.Enum):
    """Why an attempt at a window was not kept."""

    BAD_INPUT = "bad input"
    DIVERGED = "simulation diverged"
    FELL = "the body fell"
    LOST = "the body lost the reference"


@dataclass(frozen=True)
class Attempt:
    """One rung of the ladder: the start from the reference's state instead of the previous window's, the residual
    allowed."""

    from_reference: bool = False
    assisted: bool = False

    def describe(self) -> str:
        parts = ["from the reference's state"] if self.from_reference else []
        parts += ["residual allowed"] if self.assisted else []
        return ", ".join(parts) or "as configured"


#: the attempts at a window, in order (see the module docstring)
LADDER = (Attempt(), Attempt(from_reference=True), Attempt(assisted=True))
#: with ``ReconstructConfig.residual``: every attempt assisted
ASSISTED_LADDER = (Attempt(assisted=True), Attempt(from_reference=True, assisted=True))
#: a window whose joints are farther than this from the reference's in the world (no alignment, mean, metres)
#: lost it, whatever its pose; independent of ``max_deviation``, so that a tight pose test does not hand a
#: body that landed under a floating estimate to the residual
MAX_DRIFT = 0.48


@dataclass(frozen=True)
class WindowResult:
    """What became of one window: frames ``[start, stop)`` solved, ``[start, used_to)`` in the output (the next
    window starts from this one's state at ``used_to``, so windows join without a seam).

    ``failures`` are the failed attempts' reasons with their details; ``loss`` the best window loss (NaN when
    it fell back); ``steps`` optimizer steps and ``len(trace)`` loss evaluations were spent on the attempt
    kept; ``residual_share`` is its mean residual root force over the body weight (0 unless assisted);
    ``cached``: read from the window cache.
    """

    start: int
    stop: int
    used_to: int
    status: WindowStatus
    failures: tuple[tuple[Failure, str], ...]
    loss: float
    steps: int
    trace: tuple[IterLog, ...]
    residual_share: float
    cached: bool = False

    @property
    def reason(self) -> str:
        """The failures as one sentence for reports ('' when the first attempt was kept)."""
        return "; ".join(f"{f.value}: {detail}" for f, detail in self.failures)

    @property
    def fell_back(self) -> bool:
        return self.status is WindowStatus.FELL_BACK


@dataclass(frozen=True)
class WindowSolution:
    """The arrays of the window kept, per frame: ``qpos``, ``qvel``, actuator ``forces`` (NaN when it fell back),
    and the variables ``x`` (servo offsets, residual controls; they warm-start the next window's planner)."""

    qpos: np.ndarray
    qvel: np.ndarray
    forces: np.ndarray
    x: np.ndarray


def bad_input(obs: Observations) -> str | None:
    if obs.num_frames < 2:
        return "window shorter than 2 frames"
    if not (np.all(np.isfinite(obs.keypoints_2d)) and np.all(np.isfinite(obs.confidence))):
        return "non-finite keypoints or confidences"
    if not (np.all(np.isfinite(obs.kinematic.rotations)) and np.all(np.isfinite(obs.kinematic.root_translation))):
        return "non-finite kinematic estimate"
    if not np.any(obs.confidence > 0):
        return "no keypoint with confidence > 0"
    return None


@one_thread()
def solve_window(seq: PreparedSequence, start: int, stop: int, used_to: int, state: tuple | None,
                 warm: np.ndarray | None, solver: Solver) -> tuple[WindowSolution, WindowResult]:
    """Frames ``[start, stop)`` of ``seq`` from ``state = (qpos, qvel)`` (None: the reference's), the planner
    warm-started with ``warm`` offsets: the solution kept and its :class:`WindowResult` (module docstring)."""
    failures: list[tuple[Failure, str]] = []
    reason = bad_input(seq.obs.slice(start, stop)) if seq.reference is not None else "no finite reference"
    ladder = () if reason else ASSISTED_LADDER if seq.config.residual else LADDER
    if reason:
        failures.append((Failure.BAD_INPUT, reason))
    for k, attempt in enumerate(ladder):
        if attempt.from_reference and state is None:
            continue  # the first window starts from the reference anyway
        how = f" (attempt {k + 1}: {attempt.describe()})"
        try:
            problem = seq.window(start, stop, None if attempt.from_reference else state,
                                 None if attempt.from_reference else warm, seed=k, assisted=attempt.assisted)
        except SimulationDiverged as e:
            failures.append((Failure.DIVERGED, f"planning{how}: {e}"))
            continue
        try:
            sol = refine(problem, solver)
            roll = problem.rollout(sol.x)
        except SimulationDiverged as e:
            failures.append((Failure.DIVERGED, f"{e}{how}"))
            continue
        finally:
            problem.close()
        why = fell(seq.body, roll, problem.reference)
        if why is not None:
            failures.append((Failure.FELL, why + how))
            continue
        why = lost(roll.sites, problem.reference.sites, seq.config.windows.max_deviation)
        if why is not None:
            failures.append((Failure.LOST, why + how))
            continue
        status = (WindowStatus.ASSISTED if attempt.assisted else
                  WindowStatus.OPTIMIZED if not failures else WindowStatus.RESOLVED)
        if failures:
            log.warning("window at frame %d %s after: %s", start, status.value, "; ".join(d for _, d in failures))
        share = residual_share(seq.body, roll.forces[:used_to - start]) if attempt.assisted else 0.0
        return (WindowSolution(roll.qpos, roll.qvel, roll.forces, sol.x),
                WindowResult(start, stop, used_to, status, tuple(failures), sol.loss, sol.steps, sol.trace, share))
    log.warning("physics window at frame %d falls back to the kinematic estimate: %s", start,
                "; ".join(d for _, d in failures))
    return (fallback(seq.body, seq.obs.slice(start, stop)),
            WindowResult(start, stop, used_to, WindowStatus.FELL_BACK, tuple(failures), float("nan"), 0, (), 0.0))


def lost(sites: np.ndarray, reference: np.ndarray, max_deviation: float) -> str | None:
    """Why simulated joint sites ``(F, J, 3)`` lost the reference's, or None (see the module docstring)."""
    pose = float(metrics.mpjpe(sites, reference))
    if pose > max_deviation:
        return (f"the pose is {pose:.3f} m from the reference's on average, root-aligned (> max_deviation "
                f"{max_deviation} m)")
    world = float(metrics.mpjpe_global(sites, reference))
    if world > MAX_DRIFT:
        return f"the joints are {world:.3f} m from the reference's on average (> {MAX_DRIFT:g} m)"
    return None


def residual_share(body: Body, forces: np.ndarray) -> float:
    """Mean magnitude of the residual root force in ``forces (F, nu)`` over the body weight."""
    force = np.linalg.norm(forces[:, -NUM_RESIDUAL:][:, :3], axis=1)
    return float(force.mean() / (body.config.mass * G)) if len(force) else 0.0


def fallback(body: Body, obs: Observations) -> WindowSolution:
    """The kinematic estimate of a window as simulation state; forces NaN (nothing was simulated)."""
    q = np.nan_to_num(motion_to_qpos(body, obs.kinematic))
    quat = q[:, ROOT_QUAT]
    quat /= np.maximum(np.linalg.norm(quat, axis=1, keepdims=True), 1e-12)
    quat[np.linalg.norm(quat, axis=1) < 0.5] = (1.0, 0.0, 0.0, 0.0)
    return WindowSolution(q, qpos_to_qvel(body, q, 1.0 / obs.fps), np.full((len(q), body.nu), np.nan),
                          np.zeros((len(q), 0)))
