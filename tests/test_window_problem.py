"""One window problem: meta-training, the evaluation's optimizer comparison and the reconstruction build the
same window of a clip, with the same loss and gradient at the same point."""

from pathlib import Path

import numpy as np
import pytest
import torch

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
CLIP = "cmu-mocap-bvh/cgspeed_mb/02_01_bvhtodeepmimic.bvh"


@pytest.mark.skipif(not (SHARED / CLIP).is_file(), reason="shared mocap data not present")
def test_window_problem_is_shared(tmp_path, monkeypatch):
    from phymo.app import eval_datasets, evaluate
    from phymo.optimizer import OptimizerConfig
    from phymo.optimizer.physics_tasks import FPS, physics_task
    from phymo.physics import ReconstructConfig, SimulationConfig, WindowConfig, reconstruct, sequence, window

    corpus = tmp_path / "corpus" / Path(CLIP).parent
    corpus.mkdir(parents=True)
    (corpus / Path(CLIP).name).write_bytes((SHARED / CLIP).read_bytes())
    config = ReconstructConfig(windows=WindowConfig(window=6, overlap=2), simulation=SimulationConfig(threads=2))
    cfg = eval_datasets.EvalConfig("mocap", str(tmp_path / "corpus"), split="all", fps=FPS, reconstruct=config,
                                   optimizer=OptimizerConfig(optimizer="adam", steps=0))
    spec = eval_datasets.list_sequences(cfg)[0]
    seed = eval_datasets.sequence_seed(cfg.seed, spec.id)
    unit = cfg.optimizer.step_scale

    # 1. the meta-training task family (in the learned optimizer's units)
    task = physics_task(SHARED / CLIP, 0, seed=seed, config=config)
    x = task.x0 + 0.05 * torch.randn(task.x0.shape, generator=torch.Generator().manual_seed(0), dtype=torch.float64)

    problems = {}

    def capture(name):
        real_solve = window.solve_window

        def solve(problem, solver, steps=None):
            if problem.start == 0:
                problems[name] = _loss_and_grad(problem, x * unit)
            return real_solve(problem, solver, steps)
        return solve

    # 2. the evaluation's optimizer comparison
    monkeypatch.setattr("phymo.physics.solve_window", capture("evaluation"))
    sample = eval_datasets.DATASETS["mocap"][1](spec, cfg)
    evaluate.compare_on_windows(sample.obs, cfg.reconstruct, cfg.optimizer, "adam")
    # 3. the reconstruction
    monkeypatch.setattr(sequence, "solve_window", capture("reconstruction"))
    reconstruct(sample.obs, config, evaluate._solver(cfg.optimizer))

    f_task, g_task = task.loss_and_grad(x)
    for name in ("evaluation", "reconstruction"):
        f, g = problems[name]
        assert f == pytest.approx(float(f_task), rel=1e-9), name
        np.testing.assert_allclose(g * unit, g_task.numpy(), rtol=1e-9, atol=1e-12 * np.abs(g_task.numpy()).max())


def _loss_and_grad(problem, knots_flat: torch.Tensor) -> tuple[float, np.ndarray]:
    knots = knots_flat.detach().clone().reshape(problem.knots0.shape).requires_grad_(True)
    loss, _ = problem.loss(knots)
    loss.backward()
    return float(loss.detach()), knots.grad.numpy().ravel()
