"""Explicit registry: optimizer name -> factory ``(params, **kw) -> torch.optim.Optimizer``.

``make_optimizer(name, params=[x])`` gives an object used like any ``torch.optim`` optimizer:
``opt.step(closure)`` with a closure that zeroes gradients, computes the loss, calls ``backward()``
and returns the loss. Learned optimizers load their shipped weights (offline) unless ``net`` is
given; their functional cores are in :data:`LEARNED` (fresh, untrained networks).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from phymo.data.errors import PhymoError

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
