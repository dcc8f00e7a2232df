"""Physics reconstruction of a sequence: window starts, state hand-off, assembly and the window cache.

:func:`reconstruct` prepares the sequence (:func:`~phymo.physics.problem.prepare`), cuts it into overlapping
windows (:func:`window_starts`) and solves each (:func:`~phymo.physics.window.solve_window`). Each window
starts from the simulated state the previous one reached at its first frame (the reference's state for
the first window), and its planner from the previous window's offsets there, so the output, which takes
every window's frames up to the next window's start, has no jump in pose, velocity or control where
windows meet. Finished windows are cached (:mod:`phymo.physics.cache`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from phymo.data import G, Motion, Observations

from .body import NUM_RESIDUAL, Body, qpos_to_motion
from .cache import cache_folder, load_window, save_window
from .config import ReconstructConfig
from .problem import PreparedSequence, prepare
from .refine import Solver, one_thread
from .window import WindowResult, WindowStatus, solve_window


@dataclass
class Reconstruction:
    """The physics motion, its simulation state and actuation per frame, and a result per window.

    ``torques (T, nu)`` are the actuator outputs applied from each frame on (N m for the hinge servos in
    ``actuator_names`` order, then N and N m for the residual root actuators); NaN on frames that fell back.
    """

    motion: Motion
    qpos: np.ndarray  # (T, nq)
    qvel: np.ndarray  # (T, nv)
    torques: np.ndarray  # (T, nu)
    body: Body  # the simulated humanoid
    windows: tuple[WindowResult, ...]
    reference: Motion  # what the simulation tracked: the kinematic estimate grounded, refined, foot-pinned

    @property
    def actuator_names(self) -> list[str]:
        return self.body.actuator_names

    @property
    def body_weight_n(self) -> float:
        return self.body.config.mass * G

    @property
    def standing_heights(self) -> np.ndarray:
        """``(4,)`` heights of the foot joints above the sole standing flat, metres."""
        return self.body.foot_heights()

    @property
    def residual_force(self) -> np.ndarray:
        """``(T,)`` magnitude of the residual root force, N (0 where no window was assisted; NaN on frames that
        fell back)."""
        return np.linalg.norm(self.torques[:, -NUM_RESIDUAL:][:, :3], axis=1)

    def count(self, status: WindowStatus) -> int:
        """How many windows ended with ``status``."""
        return sum(w.status is status for w in self.windows)


def window_starts(num_frames: int, window: int, overlap: int) -> list[int]:
    """First frame of each window: every ``window - overlap`` frames, the last one ending at the last frame."""
    if num_frames <= window:
        return [0]
    step = window - overlap
    starts = list(range(0, num_frames - window, step))
    return starts + [max(num_frames - window, starts[-1] + 1)] if starts[-1] + window < num_frames else starts


def reconstruct(obs: Observations, config: ReconstructConfig, solver: Solver, cache_dir: str | Path | None = None,
                body: Body | None = None) -> Reconstruction:
    """Physics reconstruction of a whole sequence (see the module docstring).

    Args:
        obs: keypoints, confidences, camera and the kinematic estimate of one person.
        config: the physics settings; solver: the optimizer and its steps per window.
        cache_dir: where finished windows are stored (under a hash of input, settings and solver).
        body: a prebuilt humanoid (default: fitted to the kinematic estimate).
    """
    with one_thread():
        return _reconstruct(prepare(obs, config, body), solver, cache_dir)


def _reconstruct(seq: PreparedSequence, solver: Solver, cache_dir: str | Path | None) -> Reconstruction:
    body, t, windows = seq.body, seq.obs.num_frames, seq.config.windows
    cache = None if cache_dir is None else cache_folder(cache_dir, seq.obs, seq.config, solver)
    qpos, qvel, torques = np.zeros((t, body.nq)), np.zeros((t, body.nv)), np.zeros((t, body.nu))
    results, state, warm = [], None, None
    starts = window_starts(t, windows.window, windows.overlap)
    for i, s in enumerate(starts):
        e = min(s + windows.window, t)
        used_to = starts[i + 1] if i + 1 < len(starts) else t
        path = None if cache is None else cache / f"window_{i:04d}.npz"
        if path is not None and path.exists():
            solution, result = load_window(path)
        else:
            solution, result = solve_window(seq, s, e, used_to, state, warm, solver)
            if path is not None:
                save_window(path, solution, result)
        n = used_to - s
        qpos[s:used_to], qvel[s:used_to], torques[s:used_to] = solution.qpos[:n], solution.qvel[:n], solution.forces[:n]
        last = result.fell_back or i + 1 == len(starts)
        state = None if last else (solution.qpos[n], solution.qvel[n])
        warm = None if last else solution.x[n:, :body.num_hinges]
        results.append(result)
    reference = seq.reference.motion if seq.reference is not None else seq.obs.kinematic
    return Reconstruction(qpos_to_motion(body, qpos, seq.obs.fps), qpos, qvel, torques, body, tuple(results),
                          reference)
