"""The physics task family: reconstruction windows of synthetic observations from motion capture.

A task is one window of a mocap clip (a BVH file of a :class:`~phymo.data.mocap.MocapCorpus` split,
resampled, seen through a seeded camera with detector-like noise and dropouts,
:func:`~phymo.data.synthetic.synthesize_observations`), built by the one window builder the
reconstruction uses (:meth:`phymo.physics.PreparedSequence.window`: the clip's refined reference, its
stance pins, the planner's execution as the start): the window loss over the servo target offsets.
``phymo.physics`` and the mocap loaders are imported only when a task is built, so the test-function
suite needs neither.

The task's variable is the offsets divided by ``OptimizerConfig.step_scale``: a step of 1 in the task
moves them by that scale, which is how the reconstruction runs a learned optimizer
(``LearnedAdapter(step_scale=...)``; its input features are normalized per tensor, so rescaling the
variable changes nothing else). A rollout that diverges has loss ``inf`` (zero gradient), which
meta-training treats as a failed truncation.
"""

from __future__ import annotations

import math
import weakref
from collections import OrderedDict
from pathlib import Path

import torch

from .tasks import Task

#: frames per second the clips are resampled to (as ``phymo evaluate --dataset mocap`` does)
FPS = 30.0


class PreparedClips:
    """BVH files prepared for windows, by file, observation seed and physics settings; the ``size`` most recently
    used are kept. Preparing a clip (:func:`phymo.physics.prepare`: the fitted humanoid, the refined reference, its
    stance pins) takes seconds and meta-training draws windows from the same few clips again and again, so the
    one who draws them holds one of these for as long as the clips are wanted, and their models go with it."""

    def __init__(self, size: int = 64) -> None:
        self.size = size
        self._held: OrderedDict[tuple, object] = OrderedDict()

    def get(self, path: str | Path, seed: int, physics):
        """The clip at ``path`` resampled to :data:`FPS`, its synthetic observations (seed ``seed``) prepared with
        the :class:`~phymo.physics.ReconstructConfig` ``physics``: a :class:`~phymo.physics.PreparedSequence`."""
        key = (str(path), seed, physics)
        if key in self._held:
            self._held.move_to_end(key)
            return self._held[key]
        from phymo.data import load_bvh_motion, synthesize_observations
        from phymo.physics import prepare

        motion = load_bvh_motion(path).resample(FPS)
        self._held[key] = prepare(synthesize_observations(motion, None, seed=seed), physics)
        if len(self._held) > self.size:
            self._held.popitem(last=False)
        return self._held[key]


def physics_task(path: str | Path, start: int, seed: int = 0, physics=None, step_scale: float | None = None,
                 device: str | torch.device = "cpu", clips: PreparedClips | None = None) -> Task:
    """The window of ``physics.windows.window`` frames from frame ``start`` of BVH file ``path`` (observation
    seed ``seed``), in the units of a learned optimizer with ``step_scale`` (default: the reconstruction's).

    ``physics`` is a :class:`~phymo.physics.ReconstructConfig` (default: the reconstruction's); ``clips`` holds
    the prepared clip (default: prepared for this task alone). The simulation runs on the CPU; the variable may
    live on ``device``.
    """
    from phymo.physics import ReconstructConfig, SimulationDiverged

    from .registry import OptimizerConfig

    physics = physics or ReconstructConfig()
    seq = (clips or PreparedClips(1)).get(path, seed, physics)
    frames = seq.obs.num_frames
    if not 0 <= start <= frames - 2:
        raise ValueError(f"{path}: window start {start} outside [0, {frames - 2}] ({frames} frames)")
    problem = seq.window(start, min(start + physics.windows.window, frames))
    weakref.finalize(problem, problem.close)  # Jacobian threads stop with the task
    unit, shape = step_scale or OptimizerConfig().step_scale, problem.x0.shape

    def loss(x: torch.Tensor) -> torch.Tensor:
        offsets = (x.to("cpu", torch.float64) * unit).reshape(shape)
        try:
            value, _ = problem.loss(offsets)
        except SimulationDiverged:
            return x.sum() * 0 + math.inf
        return value.to(device=x.device, dtype=x.dtype)

    x0 = torch.as_tensor(problem.x0.reshape(-1) / unit, dtype=torch.float64, device=device)
    return Task(f"physics-{Path(path).stem}-f{start}-s{seed}", x0, loss)


def _corpus_split(root: str | Path, split: str) -> list[Path]:
    from phymo.data import InputNotFoundError, MocapCorpus

    files = MocapCorpus(root).split(split)
    if not files:
        raise InputNotFoundError(f"{root}: no BVH files in the corpus's {split!r} split (files go to splits by "
                                 f"name; the physics tasks need train and validation files)")
    return files


def middle_window_tasks(root: str | Path, split: str = "validation", physics=None,
                        device: str | torch.device = "cpu") -> list[Task]:
    """The middle window of every clip of corpus ``split`` (observation seed 0): a fixed set of tasks."""
    from phymo.physics import ReconstructConfig

    physics = physics or ReconstructConfig()
    tasks = []
    for path in _corpus_split(root, split):
        clips = PreparedClips(1)
        frames = clips.get(path, 0, physics).obs.num_frames
        start = max((frames - physics.windows.window) // 2, 0)
        tasks.append(physics_task(path, start, 0, physics, device=device, clips=clips))
    return tasks


def sample_physics_task(gen: torch.Generator, root: str | Path, clips: PreparedClips, split: str = "train",
                        physics=None, device: str | torch.device = "cpu") -> Task:
    """A random window of a random clip of corpus ``split`` under ``root``, with a random observation seed; the
    clips are prepared in ``clips``."""
    from phymo.physics import ReconstructConfig

    physics = physics or ReconstructConfig()
    files = _corpus_split(root, split)
    path = files[int(torch.randint(len(files), (1,), generator=gen))]
    seed = int(torch.randint(4, (1,), generator=gen))  # a few camera/noise draws per clip
    frames = clips.get(path, seed, physics).obs.num_frames
    start = int(torch.randint(max(frames - physics.windows.window, 0) + 1, (1,), generator=gen))
    return physics_task(path, start, seed, physics, device=device, clips=clips)
