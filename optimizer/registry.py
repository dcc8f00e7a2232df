"""Explicit registry: optimizer name -> factory ``(params, **kw) -> torch.optim.Optimizer``.

``make_optimizer(name, params=[x])`` gives an object used like any ``torch.optim`` optimizer:
``opt.step(closure)`` with a closure that zeroes gradients, computes the loss, calls ``backward()``
and returns the loss. Learned optimizers load their shipped weights (offline) unless ``net`` is
given; their functional cores are in :data:`LEARNED` (fresh, untrained networks).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

import torch

from phymo.data import ConfigError, PhymoError, check_range

from . import classic
from .base import LearnedAdapter
from .learned_baselines import AdafacMLP, Metz2020, Mnemosyne
from .optimus import Optimus

#: learned optimizer name -> fresh functional network
LEARNED: dict[str, Callable[[], torch.nn.Module]] = {
    "optimus": Optimus, "adafac_mlp": AdafacMLP, "metz2020": Metz2020, "mnemosyne": Mnemosyne,
}


def _learned(name: str):
    def factory(params, net: torch.nn.Module | None = None, weights: str | None = None,
                device: str | torch.device | None = None, step_scale: float = 1.0, tasks: str = "functions"):
        from . import weights as W
        if net is None:
            net = W.load(weights, expect=name) if weights is not None else W.load_shipped(name, tasks)
        return LearnedAdapter(params, net, device=device, step_scale=step_scale)
    factory.__name__ = name
    return factory


OPTIMIZERS: dict[str, Callable[..., torch.optim.Optimizer]] = {
    "optimus": _learned("optimus"),
    "adam": classic.adam,
    "lbfgs": classic.lbfgs,
    "bfgs": classic.BFGS,
    "gd_momentum": classic.gd_momentum,
    "adafac_mlp": _learned("adafac_mlp"),
    "metz2020": _learned("metz2020"),
    "mnemosyne": _learned("mnemosyne"),
}


class UnknownOptimizerError(PhymoError, KeyError):
    """The name is not in :data:`OPTIMIZERS`."""

    def __str__(self) -> str:  # KeyError would print the message quoted
        return str(self.args[0])


def canonical_name(name: str) -> str:
    """Registry spelling of ``name`` (``adafac-mlp`` on the command line is ``adafac_mlp``)."""
    key = name.strip().lower().replace("-", "_")
    if key not in OPTIMIZERS:
        raise UnknownOptimizerError(f"unknown optimizer {name!r}; choose one of {', '.join(sorted(OPTIMIZERS))}")
    return key


def make_optimizer(name: str, params, **kwargs) -> torch.optim.Optimizer:
    """Build optimizer ``name`` over ``params`` (see :data:`OPTIMIZERS`)."""
    return OPTIMIZERS[canonical_name(name)](params, **kwargs)


#: classic optimizers whose step is set by a learning rate (L-BFGS: the length of its first step)
TAKES_LR = frozenset({"adam", "gd_momentum", "lbfgs"})

#: each optimizer's step on the physics windows, chosen on the validation split at the shipped budget from a
#: logarithmic grid (``phymo bench optimizer-steps``; grid and scores in docs/results.md): the learning
#: rate of Adam and gradient descent with momentum, L-BFGS's first step length (rad), a learned optimizer's
#: ``step_scale``. What ``OptimizerConfig`` uses where ``lr`` or ``step_scale`` is not given.
TUNED_STEP: dict[str, float] = {
    "adam": 3e-4, "gd_momentum": 3e-4, "lbfgs": 1e-3, "optimus": 1e-4, "adafac_mlp": 1e-4,
}


def optimizer_factory(name: str, device: str | torch.device | None = None, lr: float | None = None,
                      step_scale: float = 1.0,
                      tasks: str = "physics") -> Callable[[torch.Tensor], torch.optim.Optimizer]:
    """``tensor -> optimizer`` over that one tensor, for per-window use (physics reconstruction).

    The name is checked now, so a typo fails before any work. ``lr`` sets the step of the optimizers
    in :data:`TAKES_LR` (the others ignore it); learned optimizers load the shipped weights for
    ``tasks`` (:func:`~phymo.optimizer.weights.shipped_path`), run their network on ``device`` (the
    tensor stays where it is) and scale their updates by ``step_scale`` (see
    :class:`~phymo.optimizer.base.LearnedAdapter`).
    """
    key = canonical_name(name)
    if key in LEARNED:
        kwargs = {"device": device, "step_scale": step_scale, "tasks": tasks}
    else:
        kwargs = {"lr": lr} if lr is not None and key in TAKES_LR else {}
    return lambda x: OPTIMIZERS[key]([x], **kwargs)


#: where a learned optimizer's network may run
DEVICES = ("auto", "cpu", "cuda")


@dataclass(frozen=True)
class OptimizerConfig:
    """How every physics window is optimized: the optimizer, its steps per window and its step size.

    Attributes:
        name: the optimizer, a name in :data:`OPTIMIZERS`.
        steps: optimizer steps per window (L-BFGS: each step runs up to 4 inner iterations).
        lr: learning rate of Adam and gradient descent with momentum, L-BFGS's first step length, in the window's
            variables (servo offsets, rad); None: the optimizer's :data:`TUNED_STEP`.
        step_scale: update scale of a learned optimizer (``LearnedAdapter.step_scale``, rad per unit step);
            None: the optimizer's :data:`TUNED_STEP`.
        device: where a learned optimizer's network runs: ``auto`` (CUDA when present), ``cpu`` or ``cuda``.
    """

    name: str = field(default="optimus", metadata={"help": "physics optimizer: " + ", ".join(sorted(OPTIMIZERS)),
                                                   "flag": "optimizer"})
    steps: int = field(default=6, metadata={"help": "optimizer steps per physics window"})
    lr: float | None = field(default=None, metadata={
        "help": "learning rate of adam and gd_momentum, first step of lbfgs (default: the optimizer's tuned one)"})
    step_scale: float | None = field(default=None, metadata={
        "help": "update scale of a learned optimizer (default: the optimizer's tuned one)"})
    device: str = field(default="auto", metadata={"help": "where a learned optimizer runs: auto, cpu or cuda"})

    def __post_init__(self) -> None:
        object.__setattr__(self, "name", canonical_name(self.name))
        check_range("steps", self.steps, 0)
        for key in ("lr", "step_scale"):
            if getattr(self, key) is not None:
                check_range(key, getattr(self, key), 0.0, strict_low=True)
        if self.device not in DEVICES:
            raise ConfigError("device", f"must be one of {', '.join(DEVICES)}, got {self.device!r}")

    def resolved(self) -> OptimizerConfig:
        """This configuration with the optimizer's :data:`TUNED_STEP` where ``lr`` or ``step_scale`` is None."""
        tuned = TUNED_STEP.get(self.name)
        return replace(self, lr=self.lr if self.lr is not None or self.name not in TAKES_LR else tuned,
                       step_scale=self.step_scale if self.step_scale is not None or self.name not in LEARNED
                       else tuned)

    def step_setting(self) -> float | None:
        """The step the optimizer reads: ``lr`` (Adam, gradient descent, L-BFGS), ``step_scale`` (learned), or
        None (an optimizer with neither)."""
        return self.lr if self.name in TAKES_LR else self.step_scale if self.name in LEARNED else None

    def identity(self, device: str) -> str:
        """The optimizer's name with the settings it reads, the network's device resolved to ``device``: what a
        window's result depends on besides the steps. It names the :class:`phymo.physics.Solver`, which keys the
        window cache, so a result made on CUDA is not read back on the CPU (they agree only to about 1e-5)."""
        reads = ("lr",) if self.name in TAKES_LR else ("step_scale", "device") if self.name in LEARNED else ()
        full = self.resolved()
        values = {k: device if k == "device" else getattr(full, k) for k in reads}
        shown = ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in values.items())
        return f"{self.name}({shown})" if shown else self.name


def resolve_device(name: str) -> str:
    """``auto`` becomes ``cuda`` when torch sees a GPU, else ``cpu``; ``cuda`` without one is an error."""
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device", "cuda was asked for, but torch sees no CUDA device; use cpu or auto")
    return name


def window_solver(config: OptimizerConfig = OptimizerConfig(), device: str | None = None):
    """The :class:`phymo.physics.Solver` of ``config`` with its network on ``device`` (default ``config.device``):
    its optimizer over each window's knots, its steps, and :meth:`OptimizerConfig.identity` as its name."""
    from phymo.physics import Solver

    device = resolve_device(device or config.device)
    full = config.resolved()
    make = optimizer_factory(config.name, device, lr=full.lr, step_scale=full.step_scale or 1.0)
    return Solver(make, config.steps, config.identity(device))
