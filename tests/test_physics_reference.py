"""The tracking reference: refined towards the keypoints, stance feet held at their pins."""

import numpy as np
import pytest

from phymo.data import metrics, synthesize_observations, walking_motion
from phymo.physics import ReferenceConfig
from phymo.physics.body import BodyConfig, build_body
from phymo.physics.config import LossWeights
from phymo.physics.reference import refine_motion, stance_pins, tracking_reference

WEIGHTS = LossWeights(foot_pin=1e3, smooth_pos=1e-3)


@pytest.fixture(scope="module")
def walk():
    truth = walking_motion(2.0, 30.0)
    obs = synthesize_observations(truth, seed=3)
    return truth, obs, build_body(obs.kinematic.skeleton, BodyConfig(sole_clearance=0.0))


def test_refinement_moves_the_estimate_towards_the_truth(walk):
    """The 2D keypoints (2 px noise) hold more than the drifting 3D estimate: refining on them helps."""
    truth, obs, body = walk
    kin = obs.kinematic
    refined = refine_motion(body, obs, kin, WEIGHTS, 50)
    gt = truth.positions()
    assert metrics.mpjpe(refined.positions(), gt) < 0.7 * metrics.mpjpe(kin.positions(), gt)
    assert metrics.mpjpe_global(refined.positions(), gt) < 0.7 * metrics.mpjpe_global(kin.positions(), gt)


def test_reference_feet_stand_on_their_pins(walk):
    truth, obs, body = walk
    reference = tracking_reference(body, obs, ReferenceConfig(refine_weights=WEIGHTS))
    ref, pins, stance = reference.motion, reference.pins, reference.stance
    assert stance.mean() > 0.3  # a walk: every foot joint stands for a good part of the clip
    feet = ref.positions()[:, body.foot_sites()]
    off = np.linalg.norm(feet[..., :2] - pins[..., :2], axis=-1)[stance]
    assert np.median(off) < 0.01 and np.percentile(off, 90) < 0.03
    raw_pins, raw_stance = stance_pins(body, obs.kinematic)
    raw = np.linalg.norm(obs.kinematic.positions()[:, body.foot_sites(), :2] - raw_pins[..., :2], axis=-1)
    assert np.median(off) < 0.5 * np.median(raw[raw_stance])  # the estimate's own feet drift far more


def test_missing_keypoints_and_bad_estimates_are_tolerated(walk):
    truth, obs, body = walk
    kp = obs.keypoints_2d.copy()
    kp[5:9] = np.nan  # a detector gap
    gappy = type(obs)(kp, obs.confidence, obs.camera, obs.fps, obs.kinematic, obs.meta)
    ref = refine_motion(body, gappy, obs.kinematic, WEIGHTS, 10)
    assert np.all(np.isfinite(ref.positions()))
    rot = obs.kinematic.rotations.copy()
    rot[3] = np.nan
    broken = type(obs.kinematic)(obs.kinematic.skeleton, obs.fps, obs.kinematic.root_translation, rot)
    bad = type(obs)(obs.keypoints_2d, obs.confidence, obs.camera, obs.fps, broken, obs.meta)
    assert tracking_reference(body, bad, ReferenceConfig(refine_weights=WEIGHTS)) is None  # its windows fall back


def test_the_reference_is_smoothed_once_and_sliced_alike(walk):
    """A frame's reference (angles, velocities, sites, flight) is the same in every window it falls in: windows
    slice one trajectory instead of smoothing their own slice again."""
    truth, obs, body = walk
    reference = tracking_reference(body, obs, ReferenceConfig(refine_iterations=0))
    a, b = reference.slice(10, 25), reference.slice(20, 35)
    np.testing.assert_array_equal(a.qpos[10:], b.qpos[:5])
    np.testing.assert_array_equal(a.qvel[10:], b.qvel[:5])
    np.testing.assert_array_equal(a.sites[10:], b.sites[:5])
    assert a.num_frames == 15 and a.motion.num_frames == 15


def test_flight_is_where_no_foot_joint_is_in_contact(walk):
    """A walk always has a foot down; lifted 0.3 m for some frames it is in flight there and only there."""
    from phymo.data import Motion
    from phymo.physics.reference import trajectory

    truth, obs, body = walk
    assert not trajectory(body, truth, sigma=0.0).flight.any()
    lift = np.zeros((truth.num_frames, 3))
    lift[20:30, 2] = 0.3
    jumped = Motion(truth.skeleton, truth.fps, truth.root_translation + lift, truth.rotations)
    flight = trajectory(body, jumped, sigma=0.0).flight
    np.testing.assert_array_equal(np.flatnonzero(flight), np.arange(20, 30))
