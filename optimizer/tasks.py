"""Task suites: randomised classic test functions of any dimension.

A :class:`Task` gives a start point ``x0`` ``(d,)`` and a loss-and-gradient closure; anything that
provides those (e.g. a physics reconstruction window, added later) plugs into meta-training and
benchmarks. For the test functions, instance ``(family, d, seed)`` is

    f(x) = F(z),   z = z* + s * (R (x - c))

with ``F`` the canonical function, ``z*`` its minimiser (``F(z*) = 0``), ``R`` a random rotation,
``s`` per-axis scalings (log-uniform in [0.5, 2]) and ``c`` a random shift (the minimiser in ``x``),
so the optimum is not at a fixed point. ``x0`` maps a uniform draw from the family's start box.
Seeds below ``VALIDATION_SEED`` are for meta-training; ``[VALIDATION_SEED, HELD_OUT_SEED)`` are the
validation instances that pick a meta-training checkpoint; held-out instances use seeds at or above
``HELD_OUT_SEED`` and are only used for reported results.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

HELD_OUT_SEED = 1_000_000
VALIDATION_SEED = HELD_OUT_SEED - 1000


@dataclass(frozen=True)
class Task:
    """An optimisation problem. ``loss(x)`` is differentiable in ``x`` (used by truncated BPTT)."""

    name: str
    x0: torch.Tensor
    loss: Callable[[torch.Tensor], torch.Tensor]

    @property
    def dim(self) -> int:
        return self.x0.shape[0]

    def loss_and_grad(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Loss (0-d) and gradient ``(d,)`` at ``x``, both detached."""
        with torch.enable_grad():
            xr = x.detach().requires_grad_(True)
            val = self.loss(xr)
            (g,) = torch.autograd.grad(val, xr)
        return val.detach(), g


def _rosenbrock(z):
    return (100 * (z[1:] - z[:-1] ** 2) ** 2 + (1 - z[:-1]) ** 2).sum()


def _rastrigin(z):
    return 10 * z.shape[0] + (z * z - 10 * torch.cos(2 * math.pi * z)).sum()


def _ackley(z):
    return (-20 * torch.exp(-0.2 * torch.sqrt((z * z).mean() + 1e-30)) - torch.exp(torch.cos(2 * math.pi * z).mean())
            + 20 + math.e)


def _levy(z):
    w = 1 + (z - 1) / 4
    head = torch.sin(math.pi * w[0]) ** 2
    mid = ((w[:-1] - 1) ** 2 * (1 + 10 * torch.sin(math.pi * w[:-1] + 1) ** 2)).sum()
    tail = (w[-1] - 1) ** 2 * (1 + torch.sin(2 * math.pi * w[-1]) ** 2)
    return head + mid + tail


def _griewank(z):
    i = torch.arange(1, z.shape[0] + 1, dtype=z.dtype, device=z.device)
    return (z * z).sum() / 4000 - torch.prod(torch.cos(z / i.sqrt())) + 1


def _dixon_price(z):
    i = torch.arange(2, z.shape[0] + 1, dtype=z.dtype, device=z.device)
    return (z[0] - 1) ** 2 + (i * (2 * z[1:] ** 2 - z[:-1]) ** 2).sum()


def _powell(z):
    n = (z.shape[0] // 4) * 4
    q = z[:n].reshape(-1, 4)
    a, b, c, e = q[:, 0], q[:, 1], q[:, 2], q[:, 3]
    val = ((a + 10 * b) ** 2 + 5 * (c - e) ** 2 + (b - 2 * c) ** 4 + 10 * (a - e) ** 4).sum()
    return val + (z[n:] ** 2).sum()


def _perm(z, beta=10.0):
    d = z.shape[0]
    j = torch.arange(1, d + 1, dtype=z.dtype, device=z.device)
    i = j[:, None]
    inner = ((j + beta) * (z[None, :] ** i - j[None, :] ** (-i))).sum(1)
    return (inner ** 2).sum()


def _quadratic(z):
    d = z.shape[0]
    lam = torch.logspace(-2, 2, d, dtype=z.dtype, device=z.device) if d > 1 else torch.ones_like(z)
    return 0.5 * (lam * z * z).sum()


def _ones(d, dtype):
    return torch.ones(d, dtype=dtype)


def _zeros(d, dtype):
    return torch.zeros(d, dtype=dtype)


def _dixon_opt(d, dtype):
    i = torch.arange(1, d + 1, dtype=dtype)
    return 2.0 ** (-(2 ** i - 2) / 2 ** i)


def _perm_opt(d, dtype):
    return 1.0 / torch.arange(1, d + 1, dtype=dtype)


#: family -> (canonical function, minimiser, start box half-range lo/hi in canonical coords, max d)
FAMILIES: dict[str, tuple[Callable, Callable, tuple[float, float], int | None]] = {
    "rosenbrock": (_rosenbrock, _ones, (-2.0, 2.0), None),
    "rastrigin": (_rastrigin, _zeros, (-5.12, 5.12), None),
    "ackley": (_ackley, _zeros, (-10.0, 10.0), None),
    "levy": (_levy, _ones, (-10.0, 10.0), None),
    "griewank": (_griewank, _zeros, (-10.0, 10.0), None),
    "dixon_price": (_dixon_price, _dixon_opt, (-5.0, 5.0), None),
    "powell": (_powell, _zeros, (-4.0, 5.0), None),
    "perm": (_perm, _perm_opt, (-1.0, 1.0), 12),
    "quadratic": (_quadratic, _zeros, (-3.0, 3.0), None),
}
#: families never used in meta-training (held-out families)
HELD_OUT_FAMILIES = ("perm",)
#: families of the held-out-instance comparison in the issue / paper table
EVAL_FAMILIES = ("ackley", "levy", "griewank", "powell", "dixon_price", "rosenbrock")


def random_rotation(d: int, gen: torch.Generator, dtype=torch.float64) -> torch.Tensor:
    """Haar-random orthogonal ``(d, d)`` matrix (QR of a Gaussian with sign correction)."""
    q, r = torch.linalg.qr(torch.randn(d, d, generator=gen, dtype=torch.float64))
    return (q * torch.sign(torch.diagonal(r))).to(dtype)


def make_task(family: str, dim: int, seed: int, *, rotate: bool = True, dtype=torch.float64,
              device: str | torch.device = "cpu") -> Task:
    """Instance ``seed`` of ``family`` in dimension ``dim`` (see module docstring)."""
    if family not in FAMILIES:
        raise KeyError(f"unknown task family {family!r}; known: {sorted(FAMILIES)}")
    fn, opt, (lo, hi), max_d = FAMILIES[family]
    if dim < 2 or (max_d is not None and dim > max_d):
        raise ValueError(f"{family}: dimension {dim} outside [2, {max_d or 'inf'}]")
    gen = torch.Generator().manual_seed(seed * 1009 + dim * 7 + sum(map(ord, family)))
    zs = opt(dim, dtype)
    scale = torch.exp(torch.empty(dim, dtype=torch.float64).uniform_(math.log(0.5), math.log(2.0), generator=gen))
    shift = torch.empty(dim, dtype=torch.float64).uniform_(-2.0, 2.0, generator=gen)
    rot = random_rotation(dim, gen) if rotate else torch.eye(dim, dtype=torch.float64)
    z0 = torch.empty(dim, dtype=torch.float64).uniform_(lo, hi, generator=gen)
    x0 = shift + rot.T @ ((z0 - zs.double()) / scale)
    zs, scale, shift, rot = (t.to(device=device, dtype=dtype) for t in (zs, scale, shift, rot))

    def loss(x: torch.Tensor) -> torch.Tensor:
        return fn(zs + scale * (rot @ (x - shift)))

    return Task(f"{family}-d{dim}-s{seed}", x0.to(device=device, dtype=dtype), loss)


def sample_training_task(gen: torch.Generator, dims: tuple[int, int] = (2, 32), **kw) -> Task:
    """A random meta-training task: family not held out, ``d`` log-uniform in ``dims``, seed < VALIDATION_SEED."""
    fams = [f for f in FAMILIES if f not in HELD_OUT_FAMILIES]
    fam = fams[int(torch.randint(len(fams), (1,), generator=gen))]
    d = int(round(math.exp(torch.empty(1).uniform_(math.log(dims[0]), math.log(dims[1]), generator=gen).item())))
    seed = int(torch.randint(VALIDATION_SEED, (1,), generator=gen))
    return make_task(fam, d, seed, **kw)
