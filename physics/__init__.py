"""MuJoCo humanoid, simulation, differentiable rollouts, reconstruction loss and windowed reconstruction."""

from .adjoint import Simulator, differentiable_rollout
from .body import Body, BodyConfig, build_body, motion_to_qpos, qpos_to_motion, qpos_to_qvel, site_positions
from .config import ReconstructConfig, ReferenceConfig, SimulationConfig, TrackingConfig, WindowConfig
from .fit import estimate_foot, fitted_body
from .loss import LossWeights, WindowTargets, loss_terms, window_loss
from .sequence import PreparedSequence, Reconstruction, WindowRecord, prepare, reconstruct, window_starts
from .simulate import SimulationDiverged, knot_matrix, rollout
from .window import (
    IterLog,
    Optimizer,
    OptimizerFactory,
    Solution,
    Solver,
    WindowProblem,
    WindowStatus,
    solve_window,
)

__all__ = [
    "Body",
    "BodyConfig",
    "IterLog",
    "LossWeights",
    "Optimizer",
    "OptimizerFactory",
    "PreparedSequence",
    "ReconstructConfig",
    "Reconstruction",
    "ReferenceConfig",
    "SimulationConfig",
    "SimulationDiverged",
    "Simulator",
    "Solution",
    "Solver",
    "TrackingConfig",
    "WindowConfig",
    "WindowProblem",
    "WindowRecord",
    "WindowStatus",
    "WindowTargets",
    "build_body",
    "differentiable_rollout",
    "estimate_foot",
    "fitted_body",
    "knot_matrix",
    "loss_terms",
    "motion_to_qpos",
    "prepare",
    "qpos_to_motion",
    "qpos_to_qvel",
    "reconstruct",
    "rollout",
    "site_positions",
    "solve_window",
    "window_loss",
    "window_starts",
]
