"""Why every optimizer's loss curve opened flat on the physics windows (issue 27): a line probe.

On windows of the mocap validation split, built as the reconstruction builds them, the loss is measured along
the normalized negative gradient at step lengths 1e-4 .. 1e-1 rad (L2 norm over all servo offsets), and along
the sign of the gradient (Adam's first step) at learning rates 1e-5 .. 1e-3. Finding (docs/results.md,
"Optimizers on the residual-free window problem"): the loss falls only within about 3e-3 rad of the start
and rises beyond 1e-2; Adam's first step at the old default lr 1e-3 (a norm of 0.027 rad over 720 offsets)
raised the loss on every window probed, L-BFGS's first trial step had a length of 1 rad and spent its first
evaluations backtracking. The gradient of the first frame's offsets is 10-40 times that of the last frame's.

    .venv/bin/python notebooks/optimizer_steps/line_probe.py [WINDOWS]
"""

import sys

import torch

from phymo.data import data_root
from phymo.optimizer.physics_bench import OBS_SEED
from phymo.optimizer.physics_tasks import PreparedClips, split_windows
from phymo.physics import ReconstructConfig, SimulationDiverged, one_thread

LENGTHS = (1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1)
SIGN_LRS = (1e-5, 3e-5, 1e-4, 3e-4, 1e-3)


def ratio(problem, x: torch.Tensor, f0: float) -> float:
    try:
        return float(problem.loss(x)[0]) / f0
    except SimulationDiverged:
        return float("inf")


def main(n: int = 8) -> None:
    physics, clips = ReconstructConfig(), PreparedClips(1)
    print("window | loss / start along -g at lengths", LENGTHS, "| along -sign(g) at lr", SIGN_LRS,
          "| |g| of the first, middle, last frame")
    with one_thread(), torch.no_grad():
        for w in split_windows(data_root(), "validation", n, physics):
            problem = clips.get(w.path, OBS_SEED, physics).window(w.start, w.stop)
            x0 = torch.as_tensor(problem.x0)
            with torch.enable_grad():
                x = x0.clone().requires_grad_(True)
                f, _ = problem.loss(x)
                (g,) = torch.autograd.grad(f, x)
            f0 = float(f)
            along = [ratio(problem, x0 - a * g / g.norm(), f0) for a in LENGTHS]
            signs = [ratio(problem, x0 - lr * torch.sign(g), f0) for lr in SIGN_LRS]
            frames = g.norm(dim=1)
            print(w.name, " ".join(f"{v:.4f}" for v in along), "|", " ".join(f"{v:.4f}" for v in signs), "|",
                  f"{frames[0]:.3g} {frames[len(frames) // 2]:.3g} {frames[-1]:.3g}", flush=True)
            problem.close()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 8)
