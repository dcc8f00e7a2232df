"""The body that stands on its own: a MuJoCo humanoid moved by joint servos and carried by its feet.

Data flows one way: ``body`` (the servoed humanoid) -> ``reference`` (what it tracks, once per sequence)
-> ``planner`` (look-ahead sampling over the servos) -> ``refine`` (the gradient solve on the window loss,
through ``adjoint``) -> ``window`` (the ladder of attempts, a typed result) -> ``sequence`` (the driver).
``problem`` builds the one window problem that the reconstruction, the benchmarks and meta-training share.
"""

from .adjoint import Simulator, Trajectory, differentiable_rollout
from .body import (
    HINGE_DOF,
    HINGE_QPOS,
    NUM_RESIDUAL,
    ROOT_DOF,
    ROOT_POS,
    ROOT_QUAT,
    Body,
    build_body,
    motion_to_qpos,
    qpos_to_motion,
    qpos_to_qvel,
    site_positions,
)
from .config import (
    BodyConfig,
    LossWeights,
    PlannerConfig,
    ReconstructConfig,
    ReferenceConfig,
    ServoConfig,
    SimulationConfig,
    WindowConfig,
)
from .dynamics import BatchRollout, ControlGrid, SimulationDiverged, full_state, rollout
from .fit import estimate_foot, fitted_body
from .objective import WindowTargets, plan_cost, window_loss
from .planner import Plan, Planner
from .problem import PreparedSequence, WindowProblem, WindowRollout, prepare
from .reference import Reference
from .refine import IterLog, Optimizer, OptimizerFactory, Solution, Solver, one_thread, refine
from .sequence import Reconstruction, reconstruct, window_starts
from .window import Failure, WindowResult, WindowSolution, WindowStatus, solve_window

__all__ = [
    "HINGE_DOF",
    "HINGE_QPOS",
    "NUM_RESIDUAL",
    "ROOT_DOF",
    "ROOT_POS",
    "ROOT_QUAT",
    "BatchRollout",
    "Body",
    "BodyConfig",
    "ControlGrid",
    "Failure",
    "IterLog",
    "LossWeights",
    "Optimizer",
    "OptimizerFactory",
    "Plan",
    "Planner",
    "PlannerConfig",
    "PreparedSequence",
    "ReconstructConfig",
    "Reconstruction",
    "Reference",
    "ReferenceConfig",
    "ServoConfig",
    "SimulationConfig",
    "SimulationDiverged",
    "Simulator",
    "Solution",
    "Solver",
    "Trajectory",
    "WindowConfig",
    "WindowProblem",
    "WindowResult",
    "WindowRollout",
    "WindowSolution",
    "WindowStatus",
    "WindowTargets",
    "build_body",
    "differentiable_rollout",
    "estimate_foot",
    "fitted_body",
    "full_state",
    "motion_to_qpos",
    "one_thread",
    "plan_cost",
    "prepare",
    "qpos_to_motion",
    "qpos_to_qvel",
    "reconstruct",
    "refine",
    "rollout",
    "site_positions",
    "solve_window",
    "window_loss",
    "window_starts",
]
