"""Meta-training: TBPTT and PES run, write the meta-loss log, resume from the checkpoint; the CLI writes weights."""

import argparse

import pytest
import torch

from phymo.app.commands import meta_train as meta_train_command
from phymo.optimizer import meta_train as M
from phymo.optimizer.learned_baselines import AdafacMLP


@pytest.mark.parametrize("method", ["tbptt", "pes"])
def test_meta_train_runs_logs_and_resumes(tmp_path, method):
    cfg = M.MetaTrainConfig(method=method, steps=3, n_tasks=2, trunc=4, min_len=8, max_len=16, dim_lo=2,
                            dim_hi=4, ckpt_every=2)
    net = AdafacMLP()
    w0 = [p.detach().clone() for p in net.parameters()]
    M.meta_train(net, cfg, tmp_path, log=lambda s: None)
    assert any(not torch.equal(a, b.float()) for a, b in zip(w0, net.parameters(), strict=True))
    lines = (tmp_path / "meta_loss.csv").read_text().splitlines()
    assert lines[0] == "step,seconds,meta_loss" and len(lines) == 4
    msgs = []
    M.meta_train(AdafacMLP(), M.MetaTrainConfig(**{**cfg.__dict__, "steps": 5}), tmp_path, log=msgs.append)
    assert any("resumed" in m and "meta-step 3" in m for m in msgs)
    assert len((tmp_path / "meta_loss.csv").read_text().splitlines()) == 6


def test_cli_writes_weights(tmp_path):
    p = argparse.ArgumentParser()
    meta_train_command.add_arguments(p)
    args = p.parse_args(["--optimizer", "adafac_mlp", "--steps", "2", "--n-tasks", "1", "--trunc", "3",
                         "--dim-hi", "3", "--out", str(tmp_path)])
    assert meta_train_command.run(args) == 0
    from phymo.optimizer.weights import load
    assert load(tmp_path / "adafac_mlp.pt", expect="adafac_mlp").arch()["name"] == "adafac_mlp"
