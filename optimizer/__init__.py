"""Optimus learned optimizer, baselines, task suites and meta-training.

Public surface (one name per line)::

    make_optimizer(name, params, **kw)   torch.optim-style optimizer from the registry
    optimizer_factory(name, ...)         tensor -> optimizer over it (one per physics window)
    OptimizerConfig, window_solver       how physics windows are optimized, and its phymo.physics.Solver
    OPTIMIZERS, LEARNED                  registry: name -> factory; learned name -> fresh network
    canonical_name(name)                 registry spelling of an optimizer's name, or a clear error
    Optimus, OptimusConfig               functional learned optimizer (init_state / step)
    LearnedAdapter                       torch.optim front over any functional learned optimizer
    Task, make_task                      test-function task suite
    load_weights, save_weights, WeightsError
"""

from .base import LearnedAdapter, NonFiniteGradientWarning
from .optimus import Optimus, OptimusConfig, warm_start_from_adafac
from .registry import (
    LEARNED,
    OPTIMIZERS,
    OptimizerConfig,
    canonical_name,
    make_optimizer,
    optimizer_factory,
    resolve_device,
    window_solver,
)
from .tasks import Task, make_task
from .weights import WeightsError
from .weights import load as load_weights
from .weights import save as save_weights

__all__ = [
    "LEARNED",
    "LearnedAdapter",
    "NonFiniteGradientWarning",
    "OPTIMIZERS",
    "OptimizerConfig",
    "Optimus",
    "OptimusConfig",
    "Task",
    "WeightsError",
    "canonical_name",
    "load_weights",
    "make_optimizer",
    "make_task",
    "optimizer_factory",
    "resolve_device",
    "save_weights",
    "warm_start_from_adafac",
    "window_solver",
]
