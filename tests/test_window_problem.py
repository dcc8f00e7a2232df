"""One window problem: meta-training, the evaluation's optimizer comparison and the reconstruction build the
same window of a clip (the planner's execution included), with the same loss and gradient at the same point."""

from pathlib import Path

import numpy as np
import pytest
import torch

CLIP = ("cmu-mocap-bvh", "cgspeed_mb", "02_01_bvhtodeepmimic.bvh")


def test_window_problem_is_shared(tmp_path, monkeypatch, shared_data):
    from phymo.app import evaluation
    from phymo.optimizer import OptimizerConfig, window_solver
    from phymo.optimizer.physics_tasks import FPS, TASK_UNIT, physics_task
    from phymo.physics import PlannerConfig, ReconstructConfig, SimulationConfig, WindowConfig, reconstruct, window

    clip = shared_data(*CLIP)
    corpus = tmp_path / "corpus" / Path(*CLIP[:-1])
    corpus.mkdir(parents=True)
    (corpus / clip.name).write_bytes(clip.read_bytes())
    physics = ReconstructConfig(windows=WindowConfig(window=6, overlap=2), simulation=SimulationConfig(threads=2),
                                planner=PlannerConfig(samples=8, iterations=1))  # cheap: the test is about identity
    cfg = evaluation.EvalConfig("mocap", str(tmp_path / "corpus"), split="all", fps=FPS, physics=physics,
                                optimizer=OptimizerConfig(name="adam", steps=0))
    spec = evaluation.list_sequences(cfg)[0]
    seed = evaluation.sequence_seed(cfg.seed, spec.id)
    unit = TASK_UNIT  # the task family's unit of the offsets

    # 1. the meta-training task family (in the learned optimizer's units)
    task = physics_task(clip, 0, seed=seed, physics=physics)
    x = task.x0 + 0.05 * torch.randn(task.x0.shape, generator=torch.Generator().manual_seed(0), dtype=torch.float64)

    problems = {}

    def capture(name):
        real_refine = window.refine

        def refine(problem, solver, steps=None):
            if problem.start == 0 and name not in problems:
                problems[name] = _loss_and_grad(problem, x * unit)
            return real_refine(problem, solver, steps)
        return refine

    # 2. the evaluation's optimizer comparison
    monkeypatch.setattr("phymo.physics.refine", capture("evaluation"))
    sample = evaluation.DATASETS["mocap"].load(spec, cfg, None)
    evaluation.compare_on_windows(sample.obs, cfg.physics, cfg.optimizer, "adam")
    # 3. the reconstruction
    monkeypatch.setattr(window, "refine", capture("reconstruction"))
    reconstruct(sample.obs, physics, window_solver(cfg.optimizer, "cpu"))

    f_task, g_task = task.loss_and_grad(x)
    for name in ("evaluation", "reconstruction"):
        f, g = problems[name]
        assert f == pytest.approx(float(f_task), rel=1e-9), name
        np.testing.assert_allclose(g * unit, g_task.numpy(), rtol=1e-9, atol=1e-12 * np.abs(g_task.numpy()).max())


def _loss_and_grad(problem, x_flat: torch.Tensor) -> tuple[float, np.ndarray]:
    x = x_flat.detach().clone().reshape(problem.x0.shape).requires_grad_(True)
    loss, _ = problem.loss(x)
    loss.backward()
    return float(loss.detach()), x.grad.numpy().ravel()
