"""Windowed physics reconstruction: windows and seams, the ladder of attempts (re-solve, rescue, fallback),
caching, the optimizer interface, settings."""

import dataclasses
import logging

import numpy as np
import pytest
import torch

from phymo.data import ConfigError, Motion, Observations, metrics, synthesize_observations, walking_motion
from phymo.physics import (
    Failure,
    PlannerConfig,
    ReconstructConfig,
    ReferenceConfig,
    SimulationConfig,
    Solver,
    WindowConfig,
    WindowProblem,
    WindowStatus,
    reconstruct,
    sequence,
    window_starts,
)

#: the machinery under test does not depend on a good plan: a cheap planner keeps these tests fast, and the lost
#: test is as loose as such a planner needs (its pose strays further than the default planner's)
CHEAP = PlannerConfig(samples=8, iterations=1)
LOOSE = 0.12
FAST = ReconstructConfig(windows=WindowConfig(window=8, overlap=2, max_deviation=LOOSE),
                         simulation=SimulationConfig(threads=2), planner=CHEAP)


def adam(steps: int = 1, lr: float = 1e-3) -> Solver:
    return Solver(lambda x: torch.optim.Adam([x], lr=lr), steps, f"adam(lr={lr})")


@pytest.fixture(scope="module")
def obs():
    return synthesize_observations(walking_motion(0.6, 30.0), seed=1)


def test_window_starts_cover_sequence():
    assert window_starts(10, 15, 3) == [0]
    s = window_starts(40, 15, 3)
    assert s[0] == 0 and s[-1] + 15 == 40 and all(b - a <= 12 for a, b in zip(s, s[1:], strict=False))


def test_windows_join_in_the_state_the_previous_one_reached(obs, monkeypatch):
    """Each window starts from the simulated state of the previous one at its first frame, its planner from the
    previous window's offsets there, and the output takes every window's frames up to the next one's start. The
    cheap planner's pose may stray near max_deviation; a loose bound keeps every window on its first attempt."""
    calls, real = [], sequence.solve_window

    def spy(seq, start, stop, used_to, state, warm, solver):
        calls.append((start, state, warm))
        return real(seq, start, stop, used_to, state, warm, solver)

    monkeypatch.setattr(sequence, "solve_window", spy)
    loose = dataclasses.replace(FAST, windows=dataclasses.replace(FAST.windows, max_deviation=0.3))
    r = reconstruct(obs, loose, adam())
    assert [w.status for w in r.windows] == [WindowStatus.OPTIMIZED] * 3
    assert calls[0][1] is None and calls[0][2] is None  # the first window starts from the reference
    for (s, (q0, v0), warm), before in zip(calls[1:], r.windows[:-1], strict=True):
        np.testing.assert_array_equal(r.qpos[s], q0)
        np.testing.assert_array_equal(r.qvel[s], v0)
        assert warm.shape == (before.stop - s, r.body.num_hinges)  # the previous window's offsets from s on
    assert [(w.start, w.used_to) for w in r.windows] == [(0, 6), (6, 10), (10, 18)]
    assert np.all(r.torques[:, -6:] == 0)  # no window needed the residual


def test_seams_do_not_show_in_the_pelvis():
    """Largest frame-to-frame turn of the pelvis within 2 frames of a seam <= 1.5 x its 95th percentile away
    from the seams: the default planner, with the lost test loosened so that every window goes on from the
    previous one's state (a window solved again from the reference's state jumps by design)."""
    walk = synthesize_observations(walking_motion(1.6, 30.0), seed=4)
    config = ReconstructConfig(simulation=SimulationConfig(threads=2), windows=WindowConfig(max_deviation=LOOSE))
    r = reconstruct(walk, config, adam(steps=2))
    assert all(w.status is WindowStatus.OPTIMIZED for w in r.windows)
    jump = metrics.seam_jump(r.qpos[:, 3:7], [w.start for w in r.windows[1:]])
    assert jump.ratio <= 1.5, jump


def test_result_does_not_depend_on_thread_counts(obs):
    """Sequential runs and Ray workers (1 BLAS and 1 torch thread each), and any number of simulation threads,
    produce the very same reconstruction and leave the caller's torch thread count as it was."""
    from threadpoolctl import threadpool_limits

    before, out = torch.get_num_threads(), []
    try:
        for threads in (1, 2):
            torch.set_num_threads(threads)
            config = dataclasses.replace(FAST, simulation=SimulationConfig(threads=threads))
            with threadpool_limits(limits=threads, user_api="blas"):
                out.append(reconstruct(obs, config, adam()).qpos)
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
    with caplog.at_level(logging.WARNING, logger="phymo.physics.window"):
        r = reconstruct(bad_obs, FAST, adam())
    flagged = [w for w in r.windows if w.fell_back]
    assert len(flagged) == 1 and "falls back" in caplog.text
    w = flagged[0]
    assert [f for f, _ in w.failures] == [Failure.BAD_INPUT]
    keep = slice(w.start, w.used_to)
    np.testing.assert_allclose(r.motion.positions()[keep], obs.kinematic.positions()[keep], atol=1e-6)
    assert np.isnan(r.torques[keep]).all() and np.isnan(r.residual_force[keep]).all()
    good = [w for w in r.windows if not w.fell_back]
    assert len(good) == 2 and all(np.isfinite(w.loss) for w in good)


def _moved(obs: Observations, shift=(0.0, 0.0, 0.0), lean_deg: float = 0.0, from_frame: int = 0) -> Observations:
    """``obs`` with its kinematic estimate shifted by ``shift`` metres and leaning ``lean_deg`` forward about the
    ground under its toes, from frame ``from_frame`` on."""
    from phymo.data import axis_angle_to_quat, quat_mul, quat_to_matrix

    kin = obs.kinematic
    turn = axis_angle_to_quat(np.array([0.0, np.radians(lean_deg), 0.0]))
    pivot = kin.positions()[0, [kin.skeleton.index("left_toe"), kin.skeleton.index("right_toe")]].mean(axis=0)
    pivot[2] = 0.0  # on the ground under the toes
    root, rot = kin.root_translation.copy(), kin.rotations.copy()
    root[from_frame:] = (root[from_frame:] - pivot) @ quat_to_matrix(turn).T + pivot + shift
    rot[from_frame:, 0] = quat_mul(turn, rot[from_frame:, 0])
    return Observations(obs.keypoints_2d, obs.confidence, obs.camera, obs.fps,
                        Motion(kin.skeleton, kin.fps, root, rot), obs.meta)


#: the reference as the estimate gives it (no grounding, no refinement on the keypoints), one 15-frame window
AS_GIVEN = dataclasses.replace(FAST, reference=ReferenceConfig(ground_snap=0.0, refine_iterations=0),
                               windows=WindowConfig(window=15, max_deviation=LOOSE))


def test_physics_lands_a_floating_estimate_on_its_feet(obs):
    """An estimate floating 0.3 m in the air is physically impossible: the body falls onto the ground and stands
    there, without any residual force, and that counts as solved (its pose still follows the estimate)."""
    r = reconstruct(_moved(obs.slice(0, 15), shift=(0.0, 0.0, 0.3)), AS_GIVEN, adam())
    w = r.windows[0]
    assert w.status is WindowStatus.OPTIMIZED and np.all(r.residual_force == 0)
    feet = r.motion.positions()[-5:, r.body.foot_sites(), 2] - r.standing_heights
    assert feet.min() < 0.02  # down on the ground at the end


def _standing(frames: int = 15) -> Observations:
    """A person standing still in the rest pose, toes on the ground, seen exactly by a camera."""
    from phymo.data import CANONICAL, identity_quat
    from phymo.data.synthetic import random_camera

    rot = identity_quat((frames, CANONICAL.num_joints))
    root = np.zeros((frames, 3))
    root[:, 2] = -Motion(CANONICAL, 30.0, root, rot).positions()[0, :, 2].min()
    motion = Motion(CANONICAL, 30.0, root, rot)
    camera = random_camera(motion, np.random.default_rng(0))
    keypoints = camera.project(motion.positions())
    return Observations(keypoints, np.ones(keypoints.shape[:2]), camera, 30.0, motion, {})


def test_a_window_that_falls_is_rescued_by_the_residual_and_says_so():
    """A person leaning 30 degrees forward on its toes, on nothing, cannot be held without a hand: every
    residual-free attempt falls or loses it, then the rescue holds the body with the residual, and the window
    says it was assisted."""
    config = dataclasses.replace(AS_GIVEN, planner=PlannerConfig(samples=16, iterations=3),
                                 windows=WindowConfig(window=30))
    r = reconstruct(_moved(_standing(30), lean_deg=30.0), config, adam())
    w = r.windows[0]
    assert w.status is WindowStatus.ASSISTED, w.reason
    assert len(w.failures) == 1 and w.failures[0][0] in (Failure.FELL, Failure.LOST)  # no other start: the first
    assert w.residual_share > 0.05 and r.residual_force.max() > 50.0


def test_the_residual_option_assists_every_window(obs):
    r = reconstruct(obs.slice(0, 14), dataclasses.replace(FAST, residual=True), adam())
    assert all(w.status is WindowStatus.ASSISTED and not w.failures for w in r.windows)


def test_every_attempt_failing_falls_back_with_all_reasons(obs):
    """An estimate that jumps 2 m sideways between two frames: no body follows that, not even with the residual
    (3000 N at most)."""
    w = reconstruct(_moved(obs.slice(0, 15), shift=(2.0, 0.0, 0.0), from_frame=5), AS_GIVEN, adam()).windows[0]
    assert w.fell_back and [f for f, _ in w.failures] == [Failure.LOST] * 2  # the first window has no other start
    assert "residual allowed" in w.failures[-1][1]


def test_cache_resumes_byte_equal(obs, tmp_path, monkeypatch):
    first = reconstruct(obs, FAST, adam(), cache_dir=tmp_path)
    files = sorted(tmp_path.rglob("window_*.npz"))
    assert len(files) == 3
    files[-1].unlink()  # an interrupted run: the last window is missing
    calls, real = [], sequence.solve_window
    monkeypatch.setattr(sequence, "solve_window", lambda *a: calls.append(1) or real(*a))
    second = reconstruct(obs, FAST, adam(), cache_dir=tmp_path)
    assert len(calls) == 1 and [w.cached for w in second.windows] == [True, True, False]
    np.testing.assert_array_equal(second.qpos, first.qpos)
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
        assert w.loss <= min(t.loss for t in w.trace)
    assert len(reconstruct(short, FAST, lbfgs).windows[0].trace) > 2  # L-BFGS evaluates more than once a step


def test_a_diverging_last_step_keeps_the_best_iterate(obs, monkeypatch, caplog):
    """The last step's iterate is evaluated after the loop; its blow-up must not discard the window."""
    from phymo.physics import SimulationDiverged

    sentinel = 0.5  # offsets the optimizer jumps to; their rollout "diverges"
    real_loss = WindowProblem.loss

    def loss(self, x):
        if torch.all(x == sentinel):
            raise SimulationDiverged("simulation diverged (test)")
        return real_loss(self, x)

    class JumpAfterEvaluating(torch.optim.Optimizer):
        def __init__(self, x):
            super().__init__([x], {})

        def step(self, closure):
            closure()
            with torch.no_grad():
                self.param_groups[0]["params"][0].fill_(sentinel)

    monkeypatch.setattr(WindowProblem, "loss", loss)
    with caplog.at_level(logging.WARNING, logger="phymo.physics.refine"):
        r = reconstruct(obs.slice(0, 8), FAST, Solver(JumpAfterEvaluating, 1, "jump"))
    w = r.windows[0]
    assert w.status is WindowStatus.OPTIMIZED and "keeping the best iterate" in caplog.text
    assert np.isfinite(w.loss) and w.loss == w.trace[0].loss


@pytest.mark.parametrize("make, setting", [
    (lambda: WindowConfig(window=1), "window"), (lambda: WindowConfig(window=8, overlap=8), "overlap"),
    (lambda: WindowConfig(overlap=-1), "overlap"), (lambda: WindowConfig(max_deviation=0.0), "max_deviation"),
    (lambda: SimulationConfig(max_timestep=0.0), "max_timestep"),
    (lambda: SimulationConfig(max_timestep=0.02), "max_timestep"), (lambda: SimulationConfig(threads=0), "threads"),
    (lambda: PlannerConfig(samples=1), "samples"), (lambda: PlannerConfig(horizon=0.2, commit=0.3), "commit"),
    (lambda: PlannerConfig(elite=1.5), "elite"), (lambda: ReferenceConfig(smooth_sigma=-1.0), "smooth_sigma"),
])
def test_settings_that_cannot_work_are_refused_naming_the_setting(make, setting):
    with pytest.raises(ConfigError, match=f"^{setting} must be"):
        make()


def test_a_window_from_the_reference_starts_on_the_floor_not_in_it(obs):
    """A kinematic estimate may bury a foot (the basketball clip's first frame: 77 mm), which made the first
    window's knee touch the floor at frame 0 and count as a fall. The start is raised until nothing is under the
    floor, by exactly the deepest penetration, and a pose above the floor is left alone."""
    import mujoco

    from phymo.physics.problem import above_floor, prepare

    seq = prepare(obs, FAST)
    body, standing = seq.body, seq.reference.qpos[0]

    def deepest(q):
        data = mujoco.MjData(body.model)
        data.qpos[:] = q
        mujoco.mj_kinematics(body.model, data)
        mujoco.mj_collision(body.model, data)
        return max((-float(data.contact.dist[i]) for i in range(data.ncon)), default=0.0)

    lifted = above_floor(body, standing)
    np.testing.assert_array_equal(lifted[3:], standing[3:])
    buried = lifted.copy()
    buried[2] -= 0.05
    raised = above_floor(body, buried)
    assert deepest(buried) > 0.01 and abs(deepest(raised)) < 1e-9  # standing on the floor, not above it
    assert raised[2] - buried[2] == pytest.approx(deepest(buried), abs=1e-12)
    np.testing.assert_array_equal(raised[3:], buried[3:])
    high = lifted.copy()
    high[2] += 0.1
    np.testing.assert_array_equal(above_floor(body, high), high)
