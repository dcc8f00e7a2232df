"""MuJoCo humanoid, simulation, differentiable rollouts, reconstruction loss and windowed optimization."""

from .adjoint import Simulator, simulate
from .body import Body, BodyConfig, build_body, motion_to_qpos, qpos_to_motion, qpos_to_qvel, site_positions
from .loss import LossWeights, WindowTargets, loss_terms, window_loss
from .reconstruct import (
    Optimizer,
    OptimizerFactory,
    ReconstructConfig,
    Reconstruction,
    WindowProblem,
    adam,
    lbfgs,
    reconstruct,
    reconstruct_window,
    window_problem,
)
from .simulate import SimulationDiverged, knot_matrix, rollout

__all__ = [
    "Body",
    "BodyConfig",
    "LossWeights",
    "Optimizer",
    "OptimizerFactory",
    "ReconstructConfig",
    "Reconstruction",
    "SimulationDiverged",
    "Simulator",
    "WindowProblem",
    "WindowTargets",
    "adam",
    "build_body",
    "knot_matrix",
    "lbfgs",
    "loss_terms",
    "motion_to_qpos",
    "qpos_to_motion",
    "qpos_to_qvel",
    "reconstruct",
    "reconstruct_window",
    "rollout",
    "simulate",
    "site_positions",
    "window_loss",
    "window_problem",
]
