"""The physics task family: a window task is the reconstruction's window problem in the learned optimizer's
units, its gradient is the adjoint's, and meta-training runs on it; validation picks the exported weights."""

import argparse
import math
from pathlib import Path

import pytest
import torch

from phymo.app.commands import meta_train as meta_train_command
from phymo.data import PhymoError
from phymo.optimizer import meta_train as M
from phymo.optimizer import tasks as T
from phymo.optimizer.learned_baselines import AdafacMLP
from phymo.optimizer.weights import load

CLIP = ("cmu-mocap-bvh", "cgspeed_mb", "02_01_bvhtodeepmimic.bvh")


@pytest.fixture
def clip(shared_data) -> Path:
    """A CMU walk (BVH)."""
    return shared_data(*CLIP)


def test_window_task_is_the_window_problem_in_optimizer_units(clip):
    from phymo.optimizer.physics_tasks import TASK_UNIT, PreparedClips, physics_task
    from phymo.physics import ReconstructConfig, WindowConfig

    physics, clips = ReconstructConfig(windows=WindowConfig(window=6, overlap=2)), PreparedClips()
    task = physics_task(clip, 20, seed=1, physics=physics, clips=clips)
    unit = TASK_UNIT
    assert task.dim % 6 == 0 and torch.all(task.x0.abs() <= 1.0 / unit + 1e-9)  # knots0 in [-1, 1]
    f0, g = task.loss_and_grad(task.x0)
    assert math.isfinite(float(f0)) and float(f0) > 0
    # the gradient is the adjoint's, in the task's units: central differences along it
    v = g / g.norm()
    h = 0.01  # task units: 1e-5 in the knots (contact makes the loss rough at larger steps)
    fd = (float(task.loss(task.x0 + h * v)) - float(task.loss(task.x0 - h * v))) / (2 * h)
    assert abs(float(g @ v) - fd) <= 1e-3 * abs(fd) + 1e-9
    with pytest.raises(ValueError, match="window start"):
        physics_task(clip, 10**6, seed=1, physics=physics, clips=clips)


def test_meta_train_on_physics_windows(tmp_path, shared_data):
    cfg = M.MetaTrainConfig(tasks="physics", data_root=str(shared_data()), steps=1, n_tasks=1, trunc=2, min_len=2,
                            max_len=3, pool_size=2)
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
    meta_train_command.add_arguments(p)
    with pytest.raises(PhymoError, match="--root"):
        meta_train_command.run(p.parse_args(["--tasks", "physics", "--out", str(tmp_path)]))


def test_cli_rejects_out_of_range_validation_options(tmp_path):
    p = argparse.ArgumentParser()
    meta_train_command.add_arguments(p)
    for flags in (["--validate-every", "-3"], ["--validate-iters", "0"]):
        with pytest.raises(PhymoError, match="--validate-every must be >= 0"):
            meta_train_command.run(p.parse_args([*flags, "--out", str(tmp_path)]))
    assert not any(tmp_path.iterdir())  # refused before anything is written


def test_a_corpus_without_a_split_is_a_clear_error(tmp_path, clip):
    from phymo.optimizer.physics_tasks import split_windows

    (tmp_path / clip.name).write_bytes(clip.read_bytes())  # one file: one split only
    with pytest.raises(PhymoError, match="no BVH files in the corpus's"):
        for split in ("train", "validation", "test"):
            split_windows(tmp_path, split, 2)


@pytest.mark.parametrize("method", ["tbptt", "pes"])
def test_a_resumed_run_continues_as_the_uninterrupted_one(tmp_path, method):
    """Stopped after 2 meta-steps and resumed, a run ends with the weights and meta-losses of the run that was not
    stopped: the inner problems in flight, the generators and the outer optimizer come back from the checkpoint."""
    cfg = M.MetaTrainConfig(method=method, steps=5, n_tasks=2, trunc=3, min_len=4, max_len=8, dim_lo=2, dim_hi=4,
                            ckpt_every=2)
    from dataclasses import replace

    def fresh():
        torch.manual_seed(0)
        return AdafacMLP()
    whole = M.meta_train(fresh(), cfg, tmp_path / "whole", log=lambda s: None)
    M.meta_train(fresh(), replace(cfg, steps=2), tmp_path / "cut", log=lambda s: None)
    resumed = M.meta_train(AdafacMLP(), cfg, tmp_path / "cut", log=lambda s: None)  # its weights: the checkpoint's
    for a, b in zip(whole.parameters(), resumed.parameters(), strict=True):
        assert torch.equal(a, b)

    def losses(run):
        return [r.split(",")[2] for r in (tmp_path / run / "meta_loss.csv").read_text().splitlines()[1:]]
    assert losses("whole") == losses("cut") and len(losses("cut")) == 5
    assert "resumed from" in (tmp_path / "cut" / "meta_train.log").read_text()


def test_the_window_cache_gives_back_the_problem_it_built(tmp_path, clip):
    """A pickled window problem loads with its simulator rebuilt and has the very loss of the one built."""
    from phymo.optimizer.physics_tasks import WindowCache, WindowSpec
    from phymo.physics import ReconstructConfig, WindowConfig

    cache = WindowCache(tmp_path, ReconstructConfig(windows=WindowConfig(window=6, overlap=2)))
    spec = WindowSpec(clip, 20, 26, seed=1)
    built = cache.problem(spec)
    assert cache.path(spec).exists() and not cache.path(spec).with_suffix(".building").exists()
    loaded = cache.problem(spec)
    assert loaded is not built and loaded.sim is not built.sim
    x = torch.as_tensor(built.x0) + 1e-3
    assert float(loaded.loss(x)[0]) == float(built.loss(x)[0])


def test_cli_refuses_to_overwrite_a_run_and_to_resume_nothing(tmp_path):
    p = argparse.ArgumentParser()
    meta_train_command.add_arguments(p)
    with pytest.raises(PhymoError, match="no checkpoint"):
        meta_train_command.run(p.parse_args(["--resume", "--out", str(tmp_path)]))
    (tmp_path / "ckpt.pt").write_bytes(b"a run")
    with pytest.raises(PhymoError, match="pass --resume"):
        meta_train_command.run(p.parse_args(["--out", str(tmp_path)]))
    assert (tmp_path / "ckpt.pt").read_bytes() == b"a run"


def test_prepared_clips_live_as_long_as_their_holder(tmp_path):
    """No module-level cache of prepared clips: a PreparedClips keeps the ``size`` clips it gave out last, the very
    same object while it holds one, and another holder prepares its own."""
    from phymo.data import walking_motion, write_bvh
    from phymo.optimizer.physics_tasks import PreparedClips
    from phymo.physics import ReconstructConfig, ReferenceConfig

    path = write_bvh(tmp_path / "walk.bvh", walking_motion(0.4, 30.0))
    physics = ReconstructConfig(reference=ReferenceConfig(refine_iterations=0))
    clips = PreparedClips(size=1)
    first = clips.get(path, 0, physics)
    assert clips.get(str(path), 0, physics) is first and first.obs.num_frames == 12
    assert clips.get(path, 1, physics) is not first  # another observation seed is another clip
    assert clips.get(path, 0, physics) is not first  # size 1: the first was let go
    assert PreparedClips().get(path, 0, physics) is not clips.get(path, 0, physics)


def test_cli_resume_keeps_the_runs_settings_and_names_its_start(tmp_path):
    """``--resume`` continues with the run's saved settings (not the command line's defaults) and the exported
    weights still name the weights the run started from."""
    p = argparse.ArgumentParser()
    meta_train_command.add_arguments(p)
    init = str(M.W.WEIGHTS_DIR / "adafac_mlp.pt")
    common = ["--n-tasks", "1", "--trunc", "2", "--min-len", "2", "--max-len", "3", "--dim-hi", "4"]
    meta_train_command.run(p.parse_args(["--optimizer", "adafac_mlp", "--init", init, "--steps", "2", *common,
                                         "--out", str(tmp_path)]))
    meta_train_command.run(p.parse_args(["--resume", "--steps", "3", "--out", str(tmp_path)]))
    blob = torch.load(tmp_path / "adafac_mlp.pt", map_location="cpu", weights_only=True)
    assert blob["meta"]["init"] == init and blob["meta"]["meta_steps"] == 3
    assert blob["meta"]["config"]["optimizer"] == "adafac_mlp" and blob["meta"]["config"]["n_tasks"] == 1
