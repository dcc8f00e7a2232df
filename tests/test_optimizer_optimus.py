"""Optimus: implicit preconditioner vs dense, any dimension, Adam oracle, devices, bad input."""

import warnings

import pytest
import torch

from phymo.optimizer import preconditioner as P
from phymo.optimizer.base import LearnedAdapter, NonFiniteGradientWarning
from phymo.optimizer.optimus import Optimus


def test_implicit_B_equals_dense_B_and_stays_positive_definite():
    gen = torch.Generator().manual_seed(0)
    d, rank = 7, 4
    pre = P.init(d, rank, torch.zeros(1, dtype=torch.float64))
    B = torch.eye(d, dtype=torch.float64)
    terms = []
    for raw in (3.0, -5.0, 0.3, -0.1, 10.0, -10.0):          # six pushes: the window keeps the last four
        u = torch.randn(d, generator=gen, dtype=torch.float64)
        beta = P.bound_beta(torch.tensor(raw, dtype=torch.float64), rank, beta_max=4.0)
        pre = P.push(pre, u, beta)
        terms.append((u / u.norm(), beta))
    for u, beta in terms[-rank:]:
        B = B + beta * torch.outer(u, u)
    assert torch.allclose(P.dense(pre), B, atol=1e-12)
    s = torch.randn(d, generator=gen, dtype=torch.float64)
    assert torch.allclose(P.apply(pre, s), B @ s, atol=1e-12)
    assert float(torch.linalg.eigvalsh(B).min()) > 0.0


def test_negative_betas_cannot_break_positive_definiteness():
    d, rank = 3, 4
    pre = P.init(d, rank, torch.zeros(1, dtype=torch.float64))
    u = torch.tensor([1.0, 0.0, 0.0], dtype=torch.float64)
    for _ in range(rank):                                      # worst case: same direction, most negative beta
        pre = P.push(pre, u, P.bound_beta(torch.tensor(-1e6, dtype=torch.float64), rank, 4.0))
    assert float(torch.linalg.eigvalsh(P.dense(pre)).min()) > 0.05


@pytest.mark.parametrize("d", [2, 100, 3000])
def test_one_set_of_weights_runs_at_any_dimension(d):
    torch.manual_seed(0)
    net = Optimus()
    with torch.no_grad():                                      # non-trivial preconditioner output
        net.beta_head.bias.fill_(0.5)
        net.mlp[-1].weight.normal_(0, 0.1)
    x = torch.randn(d)
    state = net.init_state(x)
    with torch.no_grad():
        for _ in range(2):
            state, delta = net.step(state, x, 2 * x, (x * x).sum())
            x = x + delta
    assert delta.shape == (d,) and torch.isfinite(delta).all()
    assert state["U"].shape == (net.config.rank, d) and state["m"].shape == (3, d)


def test_untrained_optimus_is_exactly_adam_on_a_quadratic():
    """Zero-initialised heads: the oracle is torch.optim.Adam with lr = exp(log_lr)."""
    lam = torch.tensor([1.0, 10.0, 0.1], dtype=torch.float64)
    x_a = torch.tensor([1.0, -2.0, 3.0], dtype=torch.float64, requires_grad=True)
    x_o = x_a.detach().clone().requires_grad_(True)
    adam = torch.optim.Adam([x_a], lr=0.1)
    opt = LearnedAdapter([x_o], Optimus())
    for x, o in ((x_a, adam), (x_o, opt)):
        for _ in range(25):
            def closure(x=x, o=o):
                o.zero_grad()
                val = 0.5 * (lam * x * x).sum()
                val.backward()
                return val
            o.step(closure)
    assert torch.allclose(x_o, x_a, atol=1e-10)


def test_nan_gradient_skips_the_step_and_keeps_state():
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    opt = LearnedAdapter([x], Optimus())
    for _ in range(3):
        opt.zero_grad()
        (x * x).sum().backward()
        opt.step()
    before = {k: v.clone() for k, v in opt.functional_state().items()}
    x_before = x.detach().clone()
    opt.zero_grad()
    x.grad = torch.tensor([float("nan"), 1.0])
    with pytest.warns(NonFiniteGradientWarning, match="skipped"):
        opt.step()
    x.grad = torch.tensor([float("inf"), 1.0])
    with pytest.warns(NonFiniteGradientWarning):
        opt.step()
    assert torch.equal(x.detach(), x_before)
    for k, v in opt.functional_state().items():
        assert torch.equal(v, before[k]), k
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        opt.zero_grad()
        (x * x).sum().backward()
        opt.step()                                             # a good step afterwards works and is silent
    assert not torch.equal(x.detach(), x_before)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cpu_and_cuda_give_the_same_update():
    torch.manual_seed(0)
    net = Optimus()
    with torch.no_grad():
        net.beta_head.bias.fill_(0.5)
        net.mlp[-1].weight.normal_(0, 0.1)
    x = torch.randn(257)
    outs = []
    for dev in ("cpu", "cuda"):
        n = net.to(dev)
        xd = x.to(dev)
        st = n.init_state(xd)
        with torch.no_grad():
            for _ in range(3):
                st, delta = n.step(st, xd, 2 * xd + 0.1, (xd * xd).sum())
                xd = xd + delta
        outs.append(xd.cpu())
    assert torch.allclose(outs[0], outs[1], rtol=1e-4, atol=1e-5)
