"""The tracking controller: its planned ground forces carry a standing body."""

import mujoco
import numpy as np
import pytest

from phymo.data import CANONICAL, Motion
from phymo.physics.body import BodyConfig, build_body, motion_to_qpos, site_positions
from phymo.physics.tracking import planned_contact_force, tracking_gains


def test_planned_contact_force_carries_a_standing_body():
    """Both feet down: the planned ground forces supply the whole static root wrench (the weight); a
    wrench that needs the ground to pull gets nothing; no stance foot, no force."""
    body = build_body(CANONICAL, BodyConfig(height=1.75, mass=70.0))
    rest = Motion(CANONICAL, 30.0, np.zeros((1, 3)), np.tile([1.0, 0, 0, 0], (1, len(CANONICAL.names), 1)))
    q = motion_to_qpos(body, rest)[0]
    q[2] += body.foot_heights()[0] - site_positions(body, q[None])[0, body.foot_sites()[0], 2]
    d = mujoco.MjData(body.model)
    d.qpos[:] = q
    mujoco.mj_forward(body.model, d)
    wrench = d.qfrc_bias[:6].copy()  # static: the root wrench that holds the body up
    weight = 70.0 * 9.81
    assert wrench[2] == pytest.approx(weight, rel=0.05)
    feet = body.site_ids[body.foot_sites()]
    planned = planned_contact_force(body.model, d, feet, wrench, 0.7)
    np.testing.assert_allclose(planned[:6], wrench, atol=0.01 * weight)
    assert np.abs(planned_contact_force(body.model, d, feet, -wrench, 0.7)[2]) < 0.01 * weight
    assert not planned_contact_force(body.model, d, feet[:0], wrench, 0.7).any()



def test_tracking_gains_place_both_poles():
    """The sampled double integrator x'' = kp (r - x) - kd x', held over dt, has both poles at ``pole``."""
    dt = 1 / 30
    for pole in (0.0, 0.3, 0.6):
        kp, kd = tracking_gains(pole, dt)
        # exact discretization of [x, v] under a control held over dt
        a = np.array([[1 - kp * dt**2 / 2, dt - kd * dt**2 / 2], [-kp * dt, 1 - kd * dt]])
        np.testing.assert_allclose(np.sort(np.abs(np.linalg.eigvals(a))), [pole, pole], atol=1e-6)
