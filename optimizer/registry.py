"""Explicit registry: optimizer name -> factory ``(params, **kw) -> torch.optim.Optimizer``.

``make_optimizer(name, params=[x])`` gives an object used like any ``torch.optim`` optimizer:
``opt.step(closure)`` with a closure that zeroes gradients, computes the loss, calls ``backward()``
and returns the loss. Learned optimizers load their shipped weights (offline) unless ``net`` is
given; their functional cores are in :data:`LEARNED` (fresh, untrained networks).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

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


#: classic optimizers whose step is set by a learning rate
TAKES_LR = frozenset({"adam", "gd_momentum"})


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
        lr: learning rate of Adam and gradient descent, in the window's variables (servo offsets, rad).
        step_scale: update scale of a learned optimizer (``LearnedAdapter.step_scale``, rad per unit step): they
            were meta-trained on problems whose steps are larger than a window tolerates. Chosen on 8 windows of
            the mocap validation split (median final over initial loss after 6 steps, docs/results.md): Optimus
            1e-3 / 3e-3 / 1e-2 / 3e-2: 0.953 / 0.942 / 0.916 / 1.0; Adam's lr 1e-3 / 3e-3 / 1e-2: 0.946 / 0.950 /
            1.0.
        device: where a learned optimizer's network runs: ``auto`` (CUDA when present), ``cpu`` or ``cuda``.
    """

    name: str = field(default="optimus", metadata={"help": "physics optimizer: " + ", ".join(sorted(OPTIMIZERS)),
                                                   "flag": "optimizer"})
    steps: int = field(default=6, metadata={"help": "optimizer steps per physics window"})
    lr: float = field(default=1e-3, metadata={"help": "learning rate of adam and gd_momentum"})
    step_scale: float = field(default=1e-2, metadata={"help": "update scale of a learned optimizer"})
    device: str = field(default="auto", metadata={"help": "where a learned optimizer runs: auto, cpu or cuda"})

    def __post_init__(self) -> None:
        object.__setattr__(self, "name", canonical_name(self.name))
        check_range("steps", self.steps, 0)
        check_range("lr", self.lr, 0.0, strict_low=True)
        check_range("step_scale", self.step_scale, 0.0, strict_low=True)
        if self.device not in DEVICES:
            raise ConfigError("device", f"must be one of {', '.join(DEVICES)}, got {self.device!r}")

    def identity(self, device: str) -> str:
        """The optimizer's name with the settings it reads, the network's device resolved to ``device``: what a
        window's result depends on besides the steps. It names the :class:`phymo.physics.Solver`, which keys the
        window cache, so a result made on CUDA is not read back on the CPU (they agree only to about 1e-5)."""
        reads = ("lr",) if self.name in TAKES_LR else ("step_scale", "device") if self.name in LEARNED else ()
        values = {k: device if k == "device" else getattr(self, k) for k in reads}
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
    make = optimizer_factory(config.name, device, lr=config.lr, step_scale=config.step_scale)
    return Solver(make, config.steps, config.identity(device))
