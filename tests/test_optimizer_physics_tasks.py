"""The physics task family: a window task is the reconstruction's window problem in the learned optimizer's
units, its gradient is the adjoint's, and meta-training runs on it; validation picks the exported weights."""

import argparse
import math
from pathlib import Path

import pytest
import torch

from phymo.app import cmd_meta_train
from phymo.data import PhymoError
from phymo.optimizer import meta_train as M
from phymo.optimizer import tasks as T
from phymo.optimizer.learned_baselines import AdafacMLP
from phymo.optimizer.weights import load

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
CLIP = SHARED / "cmu-mocap-bvh" / "cgspeed_mb" / "02_01_bvhtodeepmimic.bvh"
needs_data = pytest.mark.skipif(not CLIP.is_file(), reason="shared mocap data not present")


@needs_data
def test_window_task_is_the_window_problem_in_optimizer_units():
    from phymo.optimizer import OptimizerConfig
    from phymo.optimizer.physics_tasks import physics_task
    from phymo.physics import ReconstructConfig, WindowConfig

    config = ReconstructConfig(windows=WindowConfig(window=6, overlap=2))
    task = physics_task(CLIP, 20, seed=1, config=config)
    unit = OptimizerConfig().step_scale
    assert task.dim % 6 == 0 and torch.all(task.x0.abs() <= 1.0 / unit + 1e-9)  # knots0 in [-1, 1]
    f0, g = task.loss_and_grad(task.x0)
    assert math.isfinite(float(f0)) and float(f0) > 0
    # the gradient is the adjoint's, in the task's units: central differences along it
    v = g / g.norm()
    h = 0.01  # task units: 1e-5 in the knots (contact makes the loss rough at larger steps)
    fd = (float(task.loss(task.x0 + h * v)) - float(task.loss(task.x0 - h * v))) / (2 * h)
    assert abs(float(g @ v) - fd) <= 1e-3 * abs(fd) + 1e-9
    with pytest.raises(ValueError, match="window start"):
        physics_task(CLIP, 10**6, config=config)


@needs_data
def test_meta_train_on_physics_windows(tmp_path):
    cfg = M.MetaTrainConfig(tasks="physics", data_root=str(SHARED), steps=1, n_tasks=1, trunc=2, min_len=2,
                            max_len=3)
    net = AdafacMLP()
    w0 = [p.detach().clone() for p in net.parameters()]
    M.meta_train(net, cfg, tmp_path, log=lambda s: None)
    assert any(not torch.equal(a, b.float()) for a, b in zip(w0, net.parameters(), strict=True))
    step, _, loss = (tmp_path / "meta_loss.csv").read_text().splitlines()[1].split(",")
    assert step == "1" and math.isfinite(float(loss))


def test_validation_score_is_zero_for_a_standing_optimizer_and_negative_for_a_working_one():
    tasks = [T.make_task("rosenbrock", 10, T.VALIDATION_SEED), T.make_task("powell", 12, T.VALIDATION_SEED)]
    still = AdafacMLP().double()
    with torch.no_grad():
        for p in still.parameters():
            p.zero_()  # direction and magnitude outputs 0: every step is 0
    assert M.validation_score(still, tasks, 20) == 0.0
    assert M.validation_score(load(M.W.WEIGHTS_DIR / "adafac_mlp.pt").double(), tasks, 50) < -0.5


def test_validation_keeps_and_exports_the_best_weights(tmp_path):
    cfg = M.MetaTrainConfig(steps=4, n_tasks=2, trunc=3, min_len=4, max_len=8, dim_lo=2, dim_hi=4,
                            validate_every=2, validate_iters=30, validate_dim=6, validate_seeds=1)
    net = M.meta_train(AdafacMLP(), cfg, tmp_path, log=lambda s: None)
    rows = [line.split(",") for line in (tmp_path / "validation.csv").read_text().splitlines()[1:]]
    assert [int(r[0]) for r in rows] == [0, 2, 4]
    chosen, meta = M.best_or_last(net, tmp_path)
    best_row = min(rows, key=lambda r: float(r[1]))
    assert meta["meta_step"] == int(best_row[0])
    # the kept weights score what was logged (float32 copies of the float64 weights)
    assert M.validation_score(chosen.double(), M.validation_tasks(cfg), 30) == pytest.approx(
        float(best_row[1]), abs=1e-3)


def test_cli_physics_needs_a_corpus(tmp_path):
    p = argparse.ArgumentParser()
    cmd_meta_train.add_arguments(p)
    with pytest.raises(PhymoError, match="--root"):
        cmd_meta_train.run(p.parse_args(["--tasks", "physics", "--out", str(tmp_path)]))


def test_cli_rejects_out_of_range_validation_options(tmp_path):
    p = argparse.ArgumentParser()
    cmd_meta_train.add_arguments(p)
    for flags in (["--validate-every", "-3"], ["--validate-iters", "0"]):
        with pytest.raises(PhymoError, match="--validate-every must be >= 0"):
            cmd_meta_train.run(p.parse_args([*flags, "--out", str(tmp_path)]))
    assert not any(tmp_path.iterdir())  # refused before anything is written


@needs_data
def test_a_corpus_without_a_split_is_a_clear_error(tmp_path):
    from phymo.optimizer.physics_tasks import middle_window_tasks

    (tmp_path / CLIP.name).write_bytes(CLIP.read_bytes())  # one file: one split only
    with pytest.raises(PhymoError, match="no BVH files in the corpus's"):
        for split in ("train", "validation", "test"):
            middle_window_tasks(tmp_path, split)
