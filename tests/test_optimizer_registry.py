"""One contract test over every registered optimizer (STYLE.md rule 4)."""

import pytest
import torch

from phymo.optimizer import registry
from phymo.optimizer.learned_baselines import AdafacMLP, Metz2020, Mnemosyne
from phymo.optimizer.optimus import Optimus


def _quadratic(x):
    lam = torch.linspace(1.0, 3.0, x.shape[0], dtype=x.dtype)
    return 0.5 * (lam * (x - 0.5) ** 2).sum()


def _run(name, d, iters, dtype=torch.float64):
    x = torch.linspace(-1.0, 2.0, d, dtype=dtype).requires_grad_(True)
    opt = registry.make_optimizer(name, [x])

    def closure():
        opt.zero_grad()
        val = _quadratic(x)
        val.backward()
        return val

    state0 = {k: (v.shape, v.dtype) for k, v in opt.functional_state().items()} \
        if hasattr(opt, "functional_state") else None
    f0 = float(_quadratic(x.detach()))
    for _ in range(iters):
        opt.step(closure)
    return x, opt, f0, float(_quadratic(x.detach())), state0


@pytest.mark.parametrize("name", sorted(registry.OPTIMIZERS))
def test_contract(name):
    # decreases a 2-D quadratic, on CPU
    x, opt, f0, f1, state0 = _run(name, 2, 30)
    assert f1 < f0, f"{name} did not decrease the quadratic: {f0} -> {f1}"
    # keeps parameter and state shape and dtype
    assert x.shape == (2,) and x.dtype == torch.float64 and x.device.type == "cpu"
    if state0 is not None:
        assert {k: (v.shape, v.dtype) for k, v in opt.functional_state().items()} == state0
    # accepts any dimension
    for d in (1, 7, 50):
        x, _, f0, f1, _ = _run(name, d, 3)
        assert x.shape == (d,) and torch.isfinite(x).all() and f1 <= f0 * 1.5 + 1e-9


@pytest.mark.parametrize("cls", [Optimus, AdafacMLP, Metz2020, Mnemosyne])
def test_learned_functional_step_is_pure_and_differentiable(cls):
    torch.manual_seed(0)
    net = cls()
    x = torch.randn(5)
    state = net.init_state(x)
    snap = {k: v.clone() for k, v in state.items()}
    new, delta = net.step(state, x, 2 * x, (x * x).sum())
    for k in state:
        assert torch.equal(state[k], snap[k]) and new[k].shape == state[k].shape
    delta.sum().backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in net.parameters())


def test_unknown_name_lists_known_ones():
    with pytest.raises(KeyError, match="optimus"):
        registry.make_optimizer("sgd-nope", [torch.zeros(2, requires_grad=True)])


def test_the_window_cache_tells_devices_and_settings_apart(tmp_path):
    """A window solved with the network on CUDA agrees with the CPU's only to about 1e-5: the solver's name, which
    keys the window cache, carries the device and the settings the optimizer reads, and nothing else."""
    from phymo.data import synthesize_observations, walking_motion
    from phymo.optimizer import OptimizerConfig, window_solver
    from phymo.optimizer.registry import TUNED_STEP
    from phymo.physics import ReconstructConfig, Solver
    from phymo.physics.cache import cache_folder

    optimus = OptimizerConfig()
    tuned = f"{TUNED_STEP['optimus']:g}"
    assert window_solver(optimus, "cpu").name == optimus.identity("cpu") == f"optimus(step_scale={tuned}, device=cpu)"
    assert optimus.identity("cuda") == f"optimus(step_scale={tuned}, device=cuda)"
    assert OptimizerConfig(name="adam", lr=0.01).identity("cuda") == "adam(lr=0.01)"  # its tensors stay on the CPU
    assert OptimizerConfig(name="adam").identity("cpu") == f"adam(lr={TUNED_STEP['adam']:g})"  # the tuned step
    assert OptimizerConfig(name="lbfgs", lr=0.5, step_scale=0.1).identity("cpu") == "lbfgs(lr=0.5)"
    assert OptimizerConfig(name="bfgs", lr=0.5, step_scale=0.1).identity("cpu") == "bfgs"  # reads neither
    obs = synthesize_observations(walking_motion(0.3, 30.0), None, seed=0)
    folders = {cache_folder(tmp_path, obs, ReconstructConfig(), Solver(None, 6, optimus.identity(device)))
               for device in ("cpu", "cuda")}
    assert len(folders) == 2


@pytest.mark.parametrize("lr", [1e-3, 0.25])
def test_lbfgs_first_trial_step_has_the_given_length(lr):
    """L-BFGS's ``lr`` is the length of its first trial step along -g, whatever the gradient's size (a physics
    window's loss is smooth over millimetres of servo offset, docs/results.md); by default the step is the
    gradient scaled by 1/max(|g|, 1)."""
    target = torch.tensor([3.0, -4.0, 12.0], dtype=torch.float64)

    def trial_points(**kw):
        x = torch.zeros(3, dtype=torch.float64, requires_grad=True)
        opt = registry.make_optimizer("lbfgs", [x], **kw)
        seen = []

        def closure():
            opt.zero_grad()
            seen.append(x.detach().clone())
            loss = ((x - target) ** 2).sum()
            loss.backward()
            return loss
        opt.step(closure)
        return seen

    first = trial_points(lr=lr)[1]
    assert float(first.norm()) == pytest.approx(lr, rel=1e-9)
    assert torch.allclose(first / first.norm(), target / target.norm())  # along -g
    assert float(trial_points()[1].norm()) == pytest.approx(1.0, rel=1e-9)  # |g| = 26 > 1: unit length
