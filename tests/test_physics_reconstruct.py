"""Windowed physics reconstruction: windows and seams, re-solving and fallback, caching, optimizer interface,
settings, recovery on motion capture."""

import dataclasses
import logging

import numpy as np
import pytest
import torch

from phymo.data import (
    FOOT_JOINTS,
    ConfigError,
    SyntheticConfig,
    load_bvh_motion,
    metrics,
    synthesize_observations,
    walking_motion,
)
from phymo.physics import (
    ReconstructConfig,
    SimulationConfig,
    Solver,
    TrackingConfig,
    WindowConfig,
    WindowStatus,
    reconstruct,
    sequence,
    window_starts,
)
from phymo.physics import window as window_module

FAST = ReconstructConfig(windows=WindowConfig(window=8, overlap=2), simulation=SimulationConfig(threads=2))


def adam(steps: int = 1, lr: float = 1e-3) -> Solver:
    return Solver(lambda x: torch.optim.Adam([x], lr=lr), steps, f"adam(lr={lr})")


@pytest.fixture(scope="module")
def obs():
    return synthesize_observations(walking_motion(0.6, 30.0), config=SyntheticConfig(), seed=1)


def test_window_starts_cover_sequence():
    assert window_starts(10, 15, 3) == [0]
    s = window_starts(40, 15, 3)
    assert s[0] == 0 and s[-1] + 15 == 40 and all(b - a <= 12 for a, b in zip(s, s[1:], strict=False))


def test_windows_join_in_the_state_the_previous_one_reached(obs, monkeypatch):
    """Each window starts from the simulated state of the previous one at its first frame, and the output
    takes every window's frames up to the next one's start: no jump in pose or velocity at a seam."""
    starts, real = [], sequence.PreparedSequence.window

    def spy(self, start, stop, state=None, pole=None):
        starts.append((start, None if state is None else (state[0].copy(), state[1].copy())))
        return real(self, start, stop, state, pole)

    monkeypatch.setattr(sequence.PreparedSequence, "window", spy)
    r = reconstruct(obs, FAST, adam())
    assert [w.status for w in r.windows] == [WindowStatus.OPTIMIZED] * 3 and len(starts) == 3
    assert starts[0][1] is None  # the first window starts from the reference
    for (s, (q0, v0)), w in zip(starts[1:], r.windows[1:], strict=True):
        np.testing.assert_array_equal(r.qpos[s], q0)
        np.testing.assert_array_equal(r.qvel[s], v0)
        assert w.used_from == s
    assert [(w.used_from, w.used_to) for w in r.windows] == [(0, 6), (6, 10), (10, 18)]


def test_seams_do_not_show_in_the_pelvis():
    """Largest frame-to-frame turn of the pelvis within 2 frames of a seam <= 1.5 x its 95th percentile away
    from the seams (the old output switched trajectories mid-overlap: 31 degrees at a seam of make demo)."""
    walk = synthesize_observations(walking_motion(2.0, 30.0), seed=4)
    r = reconstruct(walk, dataclasses.replace(FAST, windows=WindowConfig()), adam(steps=2))
    assert not any(w.fell_back for w in r.windows)
    jump = metrics.seam_jump(r.qpos[:, 3:7], [w.used_from for w in r.windows[1:]])
    assert jump.ratio <= 1.5, jump


def test_result_does_not_depend_on_thread_counts():
    """Sequential runs and Ray workers (1 BLAS and 1 torch thread each) must produce the very same
    reconstruction, and leave the caller's torch thread count as it was."""
    from threadpoolctl import threadpool_limits

    long = synthesize_observations(walking_motion(3.0, 30.0), seed=3)  # big enough for threaded reductions
    config = dataclasses.replace(FAST, windows=WindowConfig())
    before, out = torch.get_num_threads(), []
    try:
        for threads in (1, 2):
            torch.set_num_threads(threads)
            with threadpool_limits(limits=threads, user_api="blas"):
                out.append(reconstruct(long, config, adam(steps=0)).qpos)
            assert torch.get_num_threads() == threads
    finally:
        torch.set_num_threads(before)
    np.testing.assert_array_equal(out[0], out[1])


@pytest.mark.parametrize("bad", ["nan_keypoints", "zero_confidence"])
def test_bad_input_falls_back_to_kinematic(obs, bad, caplog):
    kp, conf = obs.keypoints_2d.copy(), obs.confidence.copy()
    if bad == "nan_keypoints":
        kp[9, 3] = np.nan
    else:
        conf[6:14] = 0.0
    bad_obs = type(obs)(kp, conf, obs.camera, obs.fps, obs.kinematic, obs.meta)
    with caplog.at_level(logging.WARNING, logger="phymo.physics.sequence"):
        r = reconstruct(bad_obs, FAST, adam())
    flagged = [w for w in r.windows if w.fell_back]
    assert len(flagged) == 1 and "falls back" in caplog.text and flagged[0].reason
    w = flagged[0]
    keep = slice(w.used_from, w.used_to)
    np.testing.assert_allclose(r.motion.positions()[keep], obs.kinematic.positions()[keep], atol=1e-6)
    assert np.isnan(r.torques[keep]).all() and np.isnan(r.residual_force[keep]).all()
    good = [w for w in r.windows if not w.fell_back]
    assert len(good) == 2 and all(np.isfinite(w.loss) for w in good)


def test_a_fallen_window_is_solved_again_before_it_falls_back(obs, monkeypatch):
    """The first attempt of the second window 'falls' (its rollout is reported far from the reference); the
    re-solve, with the looser pole and twice the steps, is kept and says why it was needed."""
    real, calls = window_module.WindowProblem.rollout, []

    def rollout(self, knots):
        qpos, qvel, torques, deviation = real(self, knots)
        calls.append((self.start, self.knots0.shape))
        return qpos, qvel, torques, (1.0 if self.start == 6 and len(calls) == 2 else deviation)

    monkeypatch.setattr(window_module.WindowProblem, "rollout", rollout)
    r = reconstruct(obs, FAST, adam(steps=1))
    w = r.windows[1]
    assert w.status is WindowStatus.RESOLVED and "fell or lost tracking" in w.reason and w.steps == 2
    assert [c[0] for c in calls] == [0, 6, 6, 10]


def test_every_attempt_failing_falls_back_with_all_reasons(obs, monkeypatch):
    real = window_module.WindowProblem.rollout

    def rollout(self, knots):
        qpos, qvel, torques, _ = real(self, knots)
        return qpos, qvel, torques, 1.0 if self.start == 6 else 0.0

    monkeypatch.setattr(window_module.WindowProblem, "rollout", rollout)
    w = reconstruct(obs, FAST, adam()).windows[1]
    assert w.fell_back and w.reason.count("fell or lost tracking") == 3  # first try, re-solve, from the reference


def test_cache_resumes(obs, tmp_path, monkeypatch):
    first = reconstruct(obs, FAST, adam(), cache_dir=tmp_path)
    files = sorted(tmp_path.rglob("window_*.npz"))
    assert len(files) == 3
    files[-1].unlink()  # an interrupted run: the last window is missing
    calls = []
    real = sequence._solve
    monkeypatch.setattr(sequence, "_solve", lambda *a, **k: calls.append(1) or real(*a, **k))
    second = reconstruct(obs, FAST, adam(), cache_dir=tmp_path)
    assert len(calls) == 1 and [w.cached for w in second.windows] == [True, True, False]
    np.testing.assert_allclose(second.qpos, first.qpos, atol=1e-9)
    assert second.windows[0].trace == first.windows[0].trace and second.windows[0].status is first.windows[0].status
    other = reconstruct(obs, FAST, adam(lr=2e-3), cache_dir=tmp_path)  # another solver: its own cache
    assert not any(w.cached for w in other.windows)


def test_torch_optimizers_plug_in_and_the_trace_counts_evaluations(obs):
    short = obs.slice(0, 8)
    lbfgs = Solver(lambda x: torch.optim.LBFGS([x], max_iter=2), 2, "lbfgs")
    for solver in (adam(steps=3), lbfgs):
        w = reconstruct(short, FAST, solver).windows[0]
        assert not w.fell_back and np.isfinite(w.loss) and w.steps == solver.steps
        assert [t.evaluation for t in w.trace] == list(range(1, len(w.trace) + 1))
        assert w.loss == min(t.loss for t in w.trace) or w.loss < min(t.loss for t in w.trace)
    assert len(reconstruct(short, FAST, lbfgs).windows[0].trace) > 2  # L-BFGS evaluates more than once a step


def test_a_diverging_last_step_keeps_the_best_iterate(obs, monkeypatch, caplog):
    """The last step's iterate is evaluated after the loop; its blow-up must not discard the window."""
    from phymo.physics import SimulationDiverged

    sentinel = 0.5  # knots the optimizer jumps to; their rollout "diverges"
    real_loss = window_module.WindowProblem.loss

    def loss(self, knots):
        if torch.all(knots == sentinel):
            raise SimulationDiverged("simulation diverged (test)")
        return real_loss(self, knots)

    class JumpAfterEvaluating(torch.optim.Optimizer):
        def __init__(self, x):
            super().__init__([x], {})

        def step(self, closure):
            closure()
            with torch.no_grad():
                self.param_groups[0]["params"][0].fill_(sentinel)

    monkeypatch.setattr(window_module.WindowProblem, "loss", loss)
    with caplog.at_level(logging.WARNING, logger="phymo.physics.window"):
        r = reconstruct(obs.slice(0, 8), FAST, Solver(JumpAfterEvaluating, 1, "jump"))
    w = r.windows[0]
    assert w.status is WindowStatus.OPTIMIZED and "keeping the best iterate" in caplog.text
    assert np.isfinite(w.loss) and w.loss == w.trace[0].loss


def test_a_diverging_tracking_pass_is_retried_with_the_looser_pole(obs, monkeypatch):
    from phymo.physics import SimulationDiverged

    real, gains = sequence.tracking_knots, []

    def diverges_first(sim, qref, vref, aref, qpos0, qvel0, kp, kd, *rest):
        gains.append(kp)
        if len(gains) == 1:
            raise SimulationDiverged("simulation diverged (test)")
        return real(sim, qref, vref, aref, qpos0, qvel0, kp, kd, *rest)

    monkeypatch.setattr(sequence, "tracking_knots", diverges_first)
    short, dt = obs.slice(0, 8), 1.0 / obs.fps
    assert reconstruct(short, FAST, adam()).windows[0].status is WindowStatus.OPTIMIZED
    tracking = FAST.tracking
    assert gains == [sequence.tracking_gains(p, dt)[0] for p in (tracking.pole, tracking.retry_pole)]


@pytest.mark.parametrize("make, setting", [
    (lambda: WindowConfig(window=1), "window"), (lambda: WindowConfig(window=8, overlap=8), "overlap"),
    (lambda: WindowConfig(overlap=-1), "overlap"), (lambda: WindowConfig(max_deviation=0.0), "max_deviation"),
    (lambda: SimulationConfig(substeps=0), "substeps"), (lambda: SimulationConfig(knot_every=0), "knot_every"),
    (lambda: SimulationConfig(threads=0), "threads"), (lambda: TrackingConfig(pole=1.0), "pole"),
    (lambda: TrackingConfig(pole=-0.1), "pole"), (lambda: TrackingConfig(retry_pole=1.2), "retry_pole"),
    (lambda: TrackingConfig(plan_friction=0.0), "plan_friction"),
    (lambda: TrackingConfig(smooth_sigma=-1.0), "smooth_sigma"),
])
def test_settings_that_cannot_work_are_refused_naming_the_setting(make, setting):
    """The library names the setting by its field (a notebook user's spelling); the CLI adds the flag."""
    with pytest.raises(ConfigError, match=f"^{setting} must be") as refused:
        make()
    assert refused.value.setting == setting


def test_recovery_on_cmu_walk(shared_data):
    walk = shared_data("cmu-mocap-bvh", "cgspeed_mb", "02_01_bvhtodeepmimic.bvh")
    gt = load_bvh_motion(walk).resample(30.0).slice(1, 61)  # frame 0 is a T-pose
    obs = synthesize_observations(gt, seed=0)
    r = reconstruct(obs, ReconstructConfig(simulation=SimulationConfig(threads=2)), adam(steps=6))
    assert not any(w.fell_back for w in r.windows)
    truth, kin, phys = gt.positions(), obs.kinematic.positions(), r.motion.positions()
    feet = [gt.skeleton.index(n) for n in FOOT_JOINTS]
    assert metrics.mpjpe_global(phys, truth) < metrics.mpjpe_global(kin, truth)
    assert metrics.mpjpe(phys, truth) < metrics.mpjpe(kin, truth)
    assert metrics.penetration(phys).max_depth <= 0.01
    ch = truth[:, feet, 2].min(axis=0) + 0.03  # contact: within 3 cm of each foot joint's lowest true height
    sk_kin = metrics.foot_skating(kin, 30.0, feet, contact_height=ch)
    sk_phys = metrics.foot_skating(phys, 30.0, feet, contact_height=ch)
    assert sk_phys.mean_slide_speed <= 0.5 * sk_kin.mean_slide_speed
