"""Weights files: header round trip, shipped weights load offline, clear errors on mismatch."""

import pytest
import torch

from phymo.optimizer import weights as W
from phymo.optimizer.learned_baselines import AdafacMLP
from phymo.optimizer.optimus import Optimus, OptimusConfig


def test_round_trip(tmp_path):
    net = Optimus()
    W.save(net, tmp_path / "o.pt", {"seed": 0})
    back = W.load(tmp_path / "o.pt", expect="optimus")
    for (k, a), (_, b) in zip(net.state_dict().items(), back.state_dict().items(), strict=True):
        assert torch.equal(a.float(), b), k


@pytest.mark.parametrize("name", ["optimus", "adafac_mlp"])
def test_shipped_weights_load_and_are_small(name):
    path = W.WEIGHTS_DIR / f"{name}.pt"
    assert path.stat().st_size < 2_000_000
    net = W.load_shipped(name)
    assert net.arch()["name"] == name


def test_wrong_architecture_name(tmp_path):
    W.save(AdafacMLP(), tmp_path / "a.pt")
    with pytest.raises(W.WeightsError, match="'adafac_mlp', expected 'optimus'"):
        W.load(tmp_path / "a.pt", expect="optimus")


def test_wrong_version(tmp_path):
    W.save(Optimus(), tmp_path / "o.pt")
    blob = torch.load(tmp_path / "o.pt", weights_only=True)
    blob["version"] = 99
    torch.save(blob, tmp_path / "o.pt")
    with pytest.raises(W.WeightsError, match="version 99"):
        W.load(tmp_path / "o.pt")


def test_header_does_not_match_tensors(tmp_path):
    W.save(Optimus(OptimusConfig(d_model=8, ff=16)), tmp_path / "o.pt")
    blob = torch.load(tmp_path / "o.pt", weights_only=True)
    blob["arch"]["d_model"] = 16
    torch.save(blob, tmp_path / "o.pt")
    with pytest.raises(W.WeightsError, match="do not fit"):
        W.load(tmp_path / "o.pt")


def test_not_a_weights_file(tmp_path):
    torch.save({"hello": 1}, tmp_path / "x.pt")
    with pytest.raises(W.WeightsError, match="missing header"):
        W.load(tmp_path / "x.pt")
    with pytest.raises(W.WeightsError, match="no such weights file"):
        W.load(tmp_path / "missing.pt")


def test_physics_reconstruction_loads_the_physics_weights_where_shipped(tmp_path, monkeypatch):
    from phymo.optimizer.registry import optimizer_factory

    monkeypatch.setattr(W, "WEIGHTS_DIR", tmp_path)
    functions, physics = Optimus(), Optimus()
    with torch.no_grad():
        physics.log_lr.fill_(-7.0)
    W.save(functions, tmp_path / "optimus.pt")
    x = torch.zeros(3, requires_grad=True)
    log_lr = lambda: float(optimizer_factory("optimus")(x).net.log_lr)  # noqa: E731
    assert W.shipped_path("optimus", "physics") == tmp_path / "optimus.pt"  # none shipped: the functions ones
    assert log_lr() == pytest.approx(float(functions.log_lr))
    W.save(physics, tmp_path / "optimus_physics.pt")
    assert log_lr() == pytest.approx(-7.0)
    assert W.shipped_path("optimus") == tmp_path / "optimus.pt"  # the function benchmarks keep theirs
    with pytest.raises(ValueError, match="task domain"):
        W.shipped_path("optimus", "games")
