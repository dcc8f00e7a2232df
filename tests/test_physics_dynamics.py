"""Batched rollouts in C against a plain mj_step loop, and the planner's horizon and determinism."""

import mujoco
import numpy as np
import pytest

from phymo.data import walking_motion
from phymo.physics import (
    HINGE_QPOS,
    NUM_RESIDUAL,
    BatchRollout,
    ControlGrid,
    Planner,
    PlannerConfig,
    build_body,
    full_state,
    motion_to_qpos,
    qpos_to_qvel,
    rollout,
)
from phymo.physics.planner import horizon_frames
from phymo.physics.reference import trajectory


@pytest.fixture(scope="module")
def walk():
    body = build_body(timestep=1 / 120)
    motion = walking_motion(1.0, 30.0, skeleton=body.skeleton)
    qpos = motion_to_qpos(body, motion)
    return body, motion, qpos, qpos_to_qvel(body, qpos, 1 / 30)


def _controls(body, qpos, samples, steps, rng):
    ctrl = np.zeros((samples, steps, body.nu))
    ctrl[..., :body.num_hinges] = qpos[0, HINGE_QPOS] + rng.normal(0, 0.1, (samples, 1, body.num_hinges))
    return ctrl


def test_batched_rollouts_equal_a_python_loop_on_any_thread_count(walk):
    body, _, qpos, qvel = walk
    rng = np.random.default_rng(0)
    ctrl = _controls(body, qpos, 5, 40, rng)
    state = full_state(body.model, qpos[0], qvel[0])
    runs = []
    for threads in (1, 2):
        with BatchRollout(body.model, threads) as batch:
            runs.append(batch.run(state, ctrl))
    np.testing.assert_array_equal(runs[0][0], runs[1][0])
    qpos_b, sensors, diverged = runs[0]
    assert not diverged.any()
    data = mujoco.MjData(body.model)
    for b in range(len(ctrl)):  # the oracle: MuJoCo stepped one step at a time
        q, _, _ = rollout(body.model, data, qpos[0], qvel[0], ctrl[b])
        np.testing.assert_allclose(qpos_b[b], q[1:], atol=1e-12)
        data.qpos[:] = q[-1]
        mujoco.mj_kinematics(body.model, data)
        np.testing.assert_allclose(sensors[b, -1].reshape(-1, 3), data.site_xpos[body.site_ids], atol=1e-12)


def test_a_rollout_that_blows_up_is_flagged(walk):
    body, _, qpos, qvel = walk
    ctrl = _controls(body, qpos, 3, 20, np.random.default_rng(1))
    fast = qvel[0].copy()
    fast[6:] = 5e3  # hinges spinning beyond anything a body does
    with BatchRollout(body.model, 1) as batch:
        _, _, diverged = batch.run(full_state(body.model, qpos[0], fast), ctrl)
        _, _, calm = batch.run(full_state(body.model, qpos[0], qvel[0]), ctrl)
    assert diverged.all() and not calm.any()


def test_the_horizon_reaches_past_a_landing(walk):
    body, motion, _, _ = walk
    from phymo.data import Motion

    lift = np.zeros((motion.num_frames, 3))
    lift[12:20, 2] = 0.3  # in the air for frames 12-19
    ref = trajectory(body, Motion(motion.skeleton, motion.fps, motion.root_translation + lift, motion.rotations), 0.0)
    assert horizon_frames(ref, 0, 8) == 8  # no flight within reach
    assert horizon_frames(ref, 6, 8) == 16  # flight from frame 12: to the landing at 20, plus 2 frames of margin
    assert horizon_frames(ref, 25, 8) == ref.num_frames - 1 - 25  # clipped at the end of the reference


def test_the_planner_is_seeded_and_executes_what_it_reports(walk):
    """Same seed, same plan; the reported states are the rollout of the reported offsets (from the reference's servo
    targets) from the start state, and the first executed control is the warm start's."""
    body, motion, qpos, qvel = walk
    ref = trajectory(body, motion, 1.5)
    config = PlannerConfig(samples=8, iterations=2)
    warm = np.full((10, body.num_hinges), 0.01)
    plans = []
    for _ in range(2):
        with BatchRollout(body.model, 2) as batch:
            plans.append(Planner(body, ref, config, batch, 4).plan(0, 10, ref.qpos[0], ref.qvel[0],
                                                                  np.random.default_rng(7), warm=warm))
    np.testing.assert_array_equal(plans[0].offsets, plans[1].offsets)
    plan = plans[0]
    np.testing.assert_array_equal(plan.offsets[0], warm[0])
    knots = np.concatenate([ref.targets[:10] + plan.offsets, np.zeros((10, NUM_RESIDUAL))], axis=1)
    q, _, _ = rollout(body.model, mujoco.MjData(body.model), ref.qpos[0], ref.qvel[0], ControlGrid(10, 4).expand(knots))
    np.testing.assert_allclose(plan.qpos, q[::4], atol=1e-9)
