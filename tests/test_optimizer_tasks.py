"""Task suite: minimum value 0 at the shifted optimum, randomisation by seed, any dimension."""

import pytest
import torch

from phymo.optimizer import tasks as T


@pytest.mark.parametrize("family", sorted(T.FAMILIES))
def test_minimum_is_zero_at_the_shifted_optimum(family):
    d = 8
    fn, opt, _, _ = T.FAMILIES[family]
    assert abs(float(fn(opt(d, torch.float64)))) < 1e-9
    task = T.make_task(family, d, seed=3)
    loss, grad = task.loss_and_grad(task.x0)
    assert loss > 1e-6 and grad.shape == (d,) and torch.isfinite(grad).all()


def test_instances_differ_by_seed_and_optimum_is_not_fixed():
    a, b = T.make_task("rosenbrock", 5, 0), T.make_task("rosenbrock", 5, 1)
    assert not torch.allclose(a.x0, b.x0)
    assert float(a.loss(b.x0)) != float(b.loss(b.x0))


def test_training_sampler_never_gives_held_out_families():
    gen = torch.Generator().manual_seed(0)
    for _ in range(30):
        t = T.sample_training_task(gen, (2, 6))
        assert not any(t.name.startswith(f) for f in T.HELD_OUT_FAMILIES)
        assert int(t.name.rsplit("-s", 1)[1]) < T.VALIDATION_SEED


def test_bad_dimension_and_family():
    with pytest.raises(ValueError, match="perm"):
        T.make_task("perm", 100, 0)
    with pytest.raises(KeyError, match="rosenbrock"):
        T.make_task("nope", 3, 0)
