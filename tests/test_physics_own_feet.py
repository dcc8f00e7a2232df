"""The body stands on its own: true motion capture tracked with the residual off (the product's defaults).

Each test reconstructs a clip seen exactly (keypoints projected by a camera, the clip itself as the kinematic
estimate) and asserts what a body carried by its own feet does: it stays upright, its feet are on the ground
where the reference's are, nothing holds it up in the air, and no window needed the residual. With the earlier
torque-tracking physics and its residual off, every one of these clips fell within a second.
"""

import mujoco
import numpy as np

from phymo.app.benchmarks.own_feet import exact_observations
from phymo.data import G, load_bvh_motion, metrics
from phymo.optimizer import OptimizerConfig, window_solver
from phymo.physics import ROOT_POS, ReconstructConfig, WindowStatus, reconstruct
from phymo.physics.problem import touched_ground

BANDAI = ("bandai-namco-motiondataset", "dataset-1")


def _track(path, frames: int):
    truth = load_bvh_motion(path).resample(30.0).slice(0, frames)
    rec = reconstruct(exact_observations(truth), ReconstructConfig(), window_solver(OptimizerConfig()))
    return truth, rec


def _on_its_own(rec) -> None:
    assert all(w.status in (WindowStatus.OPTIMIZED, WindowStatus.RESOLVED) for w in rec.windows), [
        (w.start, w.status.value, w.reason) for w in rec.windows]
    assert np.all(rec.residual_force == 0.0)
    assert touched_ground(rec.body, rec.qpos) is None  # only feet (and hands) touch the ground


def _sole_heights(rec) -> np.ndarray:
    """``(T, 4)`` lowest point under each foot joint (heights above its standing height), m."""
    return rec.motion.positions()[:, rec.body.foot_sites(), 2] - rec.standing_heights


def test_a_standing_clip_stays_upright_with_both_feet_on_the_ground(shared_data):
    truth, rec = _track(shared_data(*BANDAI, "dataset-1_bye_normal_001.bvh"), 30)
    _on_its_own(rec)
    pelvis, ref_pelvis = rec.qpos[:, ROOT_POS][:, 2], truth.root_translation[:, 2]
    assert np.abs(pelvis - ref_pelvis).max() < 0.03
    assert np.all(np.abs(_sole_heights(rec)) < 0.02)  # both feet flat on the ground, every frame
    assert metrics.mpjpe(rec.motion.positions(), truth.positions()) < 0.02


def test_a_walk_stays_upright_and_steps_where_the_reference_steps(shared_data):
    truth, rec = _track(shared_data("sfu-mocap-bvh", "0005_Walking001.bvh"), 45)
    _on_its_own(rec)
    pelvis, ref_pelvis = rec.qpos[:, ROOT_POS][:, 2], truth.root_translation[:, 2]
    assert np.all(pelvis > 0.85 * ref_pelvis)
    feet = rec.body.foot_sites()
    stance = truth.positions()[:, feet, 2] - truth.positions()[:, feet, 2].min(axis=0) < 0.01
    down = np.abs(_sole_heights(rec)) < 0.03
    assert (down & stance).sum() > 0.8 * stance.sum()  # the feet are down where the reference's are
    assert metrics.mpjpe(rec.motion.positions(), truth.positions()) < 0.04


def test_nothing_holds_the_body_up_in_flight(shared_data):
    """A dash has flight phases (no foot on the ground): wherever the simulated body touches nothing, its centre of
    mass falls with gravity's acceleration."""
    truth, rec = _track(shared_data(*BANDAI, "dataset-1_dash_giant_001.bvh"), 36)
    _on_its_own(rec)
    m, d = rec.body.model, mujoco.MjData(rec.body.model)
    com, airborne = [], []
    for q in rec.qpos:
        d.qpos[:] = q
        mujoco.mj_kinematics(m, d)
        mujoco.mj_comPos(m, d)
        mujoco.mj_collision(m, d)
        com.append(d.subtree_com[1, 2])
        airborne.append(d.ncon == 0)
    com, airborne = np.array(com), np.array(airborne)
    accel = (com[2:] - 2 * com[1:-1] + com[:-2]) * 30.0 ** 2
    free = airborne[:-2] & airborne[1:-1] & airborne[2:]  # three frames in the air: a clean second difference
    assert free.sum() >= 2, "the simulated body must leave the ground in the dash's flight phases"
    np.testing.assert_allclose(accel[free[:len(accel)]], -G, atol=0.5)
