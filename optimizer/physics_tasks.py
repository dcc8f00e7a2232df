"""The physics task family: reconstruction windows of synthetic observations from motion capture.

A task is one window of a mocap clip (a BVH file of a :class:`~phymo.data.mocap.MocapCorpus` split,
resampled, seen through a seeded camera with detector-like noise and dropouts,
:func:`~phymo.data.synthetic.synthesize_observations`, and its kinematic estimate made by the product's front end,
:func:`phymo.pose.fitted_kinematic`), built by the one window builder the
reconstruction uses (:meth:`phymo.physics.PreparedSequence.window`: the clip's refined reference, its
stance pins, the planner's execution as the start): the window loss over the servo target offsets.
``phymo.physics`` and the mocap loaders are imported only when a task is built, so the test-function
suite needs neither.

The task's variable is the offsets divided by :data:`TASK_UNIT`: a step of 1 in the task moves them by that
much, as a learned optimizer with ``step_scale = TASK_UNIT`` moves them in the reconstruction
(``LearnedAdapter(step_scale=...)``; its input features are normalized per tensor, so rescaling the
variable changes nothing else); the shipped step scale, tuned after meta-training, replaces that unit.
A rollout that diverges has loss ``inf`` (zero gradient), which meta-training treats as a failed truncation.

Building a window (preparing its clip, then the planner) takes about 10 s on one core and a loss-and-gradient
evaluation 0.3 s, so meta-training draws its tasks from a fixed :class:`TaskPool` of windows whose problems a
:class:`WindowCache` built once and keeps on disk.
"""

from __future__ import annotations

import math
import os
import pickle
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from .tasks import Task

#: frames per second the clips are resampled to (as ``phymo evaluate --dataset mocap`` does)
FPS = 30.0
#: servo offset (rad) of a unit step in a task's variable: of 1e-2 / 1e-3 / 3e-4 / 1e-4, the one at which the
#: function-trained Optimus and Adafactor-MLP, the starts of their physics meta-training, lower the loss of the
#: 8 validation windows in 6 steps (mean log10 ratio of the last iterate to the start: Optimus +1.06 / +0.022 /
#: +0.014 / -0.0035, Adafactor-MLP +0.68 / +0.026 / +0.0008 / -0.0023; a window's loss is smooth only within
#: about 3e-3 rad, docs/results.md)
TASK_UNIT = 1e-4


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
        from phymo.pose import fitted_kinematic

        motion = load_bvh_motion(path).resample(FPS)
        self._held[key] = prepare(fitted_kinematic(synthesize_observations(motion, None, seed=seed)), physics)
        if len(self._held) > self.size:
            self._held.popitem(last=False)
        return self._held[key]


@dataclass(frozen=True)
class WindowSpec:
    """Frames ``[start, stop)`` of the BVH file ``path``, seen with observation seed ``seed``."""

    path: Path
    start: int
    stop: int
    seed: int = 0

    @property
    def name(self) -> str:
        return f"{self.path.stem}@{self.start}"


def split_files(root: str | Path, split: str) -> list[Path]:
    """The BVH files of ``split`` (``train``, ``validation``, ``test`` or ``all``) of the corpus at ``root``."""
    from phymo.data import InputNotFoundError, MocapCorpus

    files = MocapCorpus(root).split(split)
    if not files:
        raise InputNotFoundError(f"{root}: no BVH files in the corpus's {split!r} split (files go to splits by "
                                 f"name; the physics tasks need train and validation files)")
    return files


def clip_frames(path: Path) -> int:
    """Frames of a BVH file once resampled to :data:`FPS`."""
    from phymo.data.retarget import load_bvh_motion

    return load_bvh_motion(path).resample(FPS).num_frames


def spread_windows(clips: list[tuple[Path, int]], n: int, length: int, seeds: int = 1) -> list[WindowSpec]:
    """``n`` windows of ``length`` frames over ``clips`` (``(path, frames)``): an equal share per clip (the first
    clips one more where ``n`` does not divide), starts at the centres of equal parts of each clip's range
    of starts. A clip shorter than ``length`` gives one window over all of it; duplicate starts are dropped.
    The ``i``-th window gets observation seed ``i % seeds``."""
    out = []
    for i, (path, frames) in enumerate(clips):
        k = n // len(clips) + (i < n % len(clips))
        span = max(frames - length, 0)
        starts = sorted({round((j + 0.5) * span / k) for j in range(k)})
        out += [(path, s, min(s + length, frames)) for s in starts]
    return [WindowSpec(path, s, e, i % seeds) for i, (path, s, e) in enumerate(out)]


def split_windows(root: str | Path, split: str, n: int, physics=None, seeds: int = 1) -> list[WindowSpec]:
    """:func:`spread_windows` over the clips of corpus ``split`` with the window length of ``physics``."""
    from phymo.physics import ReconstructConfig

    physics = physics or ReconstructConfig()
    return spread_windows([(p, clip_frames(p)) for p in split_files(root, split)], n, physics.windows.window, seeds)


#: a window marked as being built for longer than this was left by a process that died: built again
STALE_SECONDS = 300.0
#: bumped when a pickled window problem changes content, so that an old cache is not read as new
POOL_VERSION = "p2"  # p2: the kinematic estimate is the product's fit (issue 26)


class WindowCache:
    """Window problems built once and kept on disk, as pickles (the problem rebuilds its simulator on load).

    ``folder/<version>-<physics key>/<clip>-<start>-<stop>-s<seed>.pkl``: a changed setting is another folder. Only
    phymo writes these files and only phymo reads them: never point ``folder`` at pickles of unknown origin.
    Several processes may share a folder: a window being built is marked with a ``.building`` file, which the
    others wait for instead of building it again.
    """

    def __init__(self, folder: str | Path, physics=None, clips: PreparedClips | None = None) -> None:
        from phymo.physics import ReconstructConfig

        self.physics = physics or ReconstructConfig()
        self.folder = Path(folder) / f"{POOL_VERSION}-{self.physics.key()}"
        self.folder.mkdir(parents=True, exist_ok=True)
        self.clips = clips or PreparedClips(1)

    def path(self, w: WindowSpec) -> Path:
        return self.folder / f"{w.path.stem}-{w.start}-{w.stop}-s{w.seed}.pkl"

    def problem(self, w: WindowSpec):
        """The :class:`~phymo.physics.WindowProblem` of ``w``, from disk when built before. Raises
        ``SimulationDiverged`` when the planner's execution diverges."""
        from phymo.physics import SimulationDiverged

        path = self.path(w)
        marker, diverged = path.with_suffix(".building"), path.with_suffix(".diverged")
        while not path.exists():
            if diverged.exists():
                raise SimulationDiverged(diverged.read_text())
            try:
                marker.touch(exist_ok=False)
            except FileExistsError:  # another process builds it, unless it died doing so
                if time.time() - marker.stat().st_mtime > STALE_SECONDS:
                    marker.unlink(missing_ok=True)
                time.sleep(1.0)
                continue
            try:
                try:
                    problem = self.clips.get(w.path, w.seed, self.physics).window(w.start, w.stop)
                except SimulationDiverged as e:
                    diverged.write_text(f"{w.name} (seed {w.seed}): the planner's execution diverged: {e}")
                    raise
                tmp = path.with_suffix(f".{os.getpid()}.tmp")
                tmp.write_bytes(pickle.dumps(problem))
                tmp.replace(path)
                return problem
            finally:
                marker.unlink(missing_ok=True)
        return pickle.loads(path.read_bytes())


def window_task(problem, name: str, step_scale: float | None = None, device: str | torch.device = "cpu") -> Task:
    """The task of a :class:`~phymo.physics.WindowProblem`: its loss over the offsets in the units of a learned
    optimizer with ``step_scale`` (default :data:`TASK_UNIT`)."""
    from phymo.physics import SimulationDiverged

    weakref.finalize(problem, problem.close)  # Jacobian threads stop with the task
    unit, shape = step_scale or TASK_UNIT, problem.x0.shape

    def loss(x: torch.Tensor) -> torch.Tensor:
        offsets = (x.to("cpu", torch.float64) * unit).reshape(shape)
        try:
            value, _ = problem.loss(offsets)
        except SimulationDiverged:
            return x.sum() * 0 + math.inf
        return value.to(device=x.device, dtype=x.dtype)

    x0 = torch.as_tensor(problem.x0.reshape(-1) / unit, dtype=torch.float64, device=device)
    return Task(name, x0, loss)


def physics_task(path: str | Path, start: int, seed: int = 0, physics=None, step_scale: float | None = None,
                 device: str | torch.device = "cpu", clips: PreparedClips | None = None) -> Task:
    """The window of ``physics.windows.window`` frames from frame ``start`` of BVH file ``path`` (observation
    seed ``seed``) as a :func:`window_task`.

    ``physics`` is a :class:`~phymo.physics.ReconstructConfig` (default: the reconstruction's); ``clips`` holds
    the prepared clip (default: prepared for this task alone). The simulation runs on the CPU; the variable may
    live on ``device``.
    """
    from phymo.physics import ReconstructConfig

    physics = physics or ReconstructConfig()
    seq = (clips or PreparedClips(1)).get(path, seed, physics)
    frames = seq.obs.num_frames
    if not 0 <= start <= frames - 2:
        raise ValueError(f"{path}: window start {start} outside [0, {frames - 2}] ({frames} frames)")
    problem = seq.window(start, min(start + physics.windows.window, frames))
    return window_task(problem, f"physics-{Path(path).stem}-f{start}-s{seed}", step_scale, device)


class TaskPool:
    """A fixed set of windows of a corpus split (:func:`split_windows`, observation seeds 0-3), their problems in a
    :class:`WindowCache`: meta-training draws its tasks from the train split's pool and scores its weights on the
    validation split's."""

    def __init__(self, root: str | Path, split: str, size: int, cache: WindowCache, seeds: int = 4) -> None:
        self.windows = split_windows(root, split, size, cache.physics, seeds)
        self.cache = cache

    def task(self, i: int, device: str | torch.device = "cpu") -> Task:
        w = self.windows[i]
        return window_task(self.cache.problem(w), f"physics-{w.name}-s{w.seed}", device=device)

    def draw(self, gen: torch.Generator, device: str | torch.device = "cpu") -> Task:
        """A window of the pool drawn with ``gen``; one whose planner diverges is replaced by the next."""
        from phymo.physics import SimulationDiverged

        i = int(torch.randint(len(self.windows), (1,), generator=gen))
        for k in range(len(self.windows)):
            try:
                return self.task((i + k) % len(self.windows), device)
            except SimulationDiverged:
                continue
        raise SimulationDiverged("the planner's execution diverged on every window of the pool")

    def build(self, progress: Callable[[int, int], None] = lambda i, n: None) -> None:
        """Build every window now (each process skips what another builds), so that meta-steps cost the same."""
        from phymo.physics import SimulationDiverged

        def done(w):
            path = self.cache.path(w)
            return path.exists() or path.with_suffix(".diverged").exists()

        for busy_ok in (True, False):  # first what no one builds, then wait for the rest
            for w in self.windows:
                if done(w) or (busy_ok and self.cache.path(w).with_suffix(".building").exists()):
                    continue
                try:
                    self.cache.problem(w).close()
                except SimulationDiverged:
                    pass
                progress(sum(map(done, self.windows)), len(self.windows))
        progress(len(self.windows), len(self.windows))
