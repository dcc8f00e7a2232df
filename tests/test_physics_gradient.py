"""Adjoint gradient of a servoed rollout with ground contact against central differences of the whole rollout,
and the closed-form control Jacobian against MuJoCo's finite differences."""

import mujoco
import numpy as np
import pytest
import torch

from phymo.data import walking_motion
from phymo.physics import HINGE_QPOS, NUM_RESIDUAL
from phymo.physics.adjoint import Simulator, differentiable_rollout
from phymo.physics.body import BodyConfig, build_body, motion_to_qpos, qpos_to_qvel


def _walk(body, fps=30.0, seconds=1.0):
    qpos = motion_to_qpos(body, walking_motion(seconds, fps, skeleton=body.skeleton))
    return qpos, qpos_to_qvel(body, qpos, 1 / fps)


def _knots(body, qpos, rng, spread=0.05):
    """Servo targets near the motion's angles, small residual controls: ``(F, nu)``."""
    knots = np.zeros((len(qpos), body.nu))
    knots[:, :body.num_hinges] = qpos[:, HINGE_QPOS] + rng.normal(0, spread, (len(qpos), body.num_hinges))
    knots[:, body.num_hinges:] = rng.normal(0, 0.05, (len(qpos), NUM_RESIDUAL))
    return knots


def _contacts(sim, traj) -> int:
    d = sim._datas[0]
    total = 0
    for q in traj.qpos:
        d.qpos[:] = q
        mujoco.mj_forward(sim.model, d)
        total += d.ncon
    return total


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_adjoint_matches_central_differences(seed):
    rng = np.random.default_rng(seed)
    body = build_body(config=BodyConfig(height=1.7 + 0.1 * rng.random(), mass=60 + 20 * rng.random()),
                      timestep=1 / 120)
    qpos, qvel = _walk(body)
    start, frames = int(rng.integers(0, 20)), 5
    sim = Simulator(body, frames, substeps=4, threads=2)
    knots = torch.tensor(_knots(body, qpos[start:start + frames], rng), requires_grad=True)
    x0 = torch.tensor(np.concatenate([np.zeros(body.nv), qvel[start]]), requires_grad=True)
    weights = torch.tensor(rng.normal(size=(frames, 22, 3)))

    def loss(x, k):
        pos = differentiable_rollout(sim, qpos[start], x, k)
        return (weights * pos).sum() + 10 * ((pos[..., 2] - 0.05) ** 2).sum()

    loss(x0, knots).backward()
    _, traj = sim.run(qpos[start], x0.detach().numpy(), knots.detach().numpy())
    assert _contacts(sim, traj) > 0, "the window must include ground contact"
    h = 1e-6
    for _ in range(3):
        dk = 0.1 * torch.tensor(rng.normal(size=knots.shape))
        dx = 0.1 * torch.tensor(rng.normal(size=x0.shape))
        adjoint = float((knots.grad * dk).sum() + (x0.grad * dx).sum())
        with torch.no_grad():
            fd = float(loss(x0 + h * dx, knots + h * dk) - loss(x0 - h * dx, knots - h * dk)) / (2 * h)
        assert abs(adjoint - fd) <= 1e-3 * abs(fd), (adjoint, fd)
    sim.close()


def test_threaded_jacobians_equal_serial():
    body = build_body(timestep=1 / 90)
    qpos, qvel = _walk(body, seconds=0.3)
    knots = _knots(body, qpos[:4], np.random.default_rng(0))
    out = []
    for threads in (1, 2):
        sim = Simulator(body, 4, substeps=3, threads=threads)
        _, traj = sim.run(qpos[0], np.concatenate([np.zeros(body.nv), qvel[0]]), knots)
        out.append(sim.transition_jacobians(traj))
        sim.close()
    np.testing.assert_array_equal(out[0][0], out[1][0])
    np.testing.assert_array_equal(out[0][1], out[1][1])


def test_closed_form_control_jacobian_matches_finite_differences():
    """B in closed form equals mjd_transitionFD's for implicitfast with position servos, with ground contact,
    servos at their force limit, a clamped residual control and the free joint."""
    body = build_body(timestep=1 / 90)
    qpos, qvel = _walk(body)
    rng = np.random.default_rng(3)
    frames = 8
    knots = _knots(body, qpos[:frames], rng, spread=0.4)  # far targets: some servos hit their torque limit
    knots[:, body.num_hinges] = 1.5  # beyond the residual's ctrlrange: clamped, so its column must vanish
    x0 = np.concatenate([rng.normal(0, 0.01, body.nv), qvel[0] + rng.normal(0, 0.3, body.nv)])
    sim = Simulator(body, frames, substeps=3, threads=2)
    _, traj = sim.run(qpos[0], x0, knots)
    analytic = sim.transition_jacobians(traj)[1]
    d = sim._datas[0]
    fd, contacts, saturated = np.zeros_like(analytic), 0, 0
    for t in range(len(traj.ctrl)):  # the oracle: MuJoCo's centred finite differences of the step
        d.qpos[:], d.qvel[:], d.ctrl[:] = traj.qpos[t], traj.qvel[t], traj.ctrl[t]
        mujoco.mjd_transitionFD(sim.model, d, 1e-6, True, None, fd[t], None, None)
        contacts += d.ncon
        saturated += int(np.sum(np.abs(traj.force[t, :body.num_hinges]) >= body.torque_limit * (1 - 1e-9)))
    sim.close()
    assert contacts > 0 and saturated > 0
    scale = np.abs(fd).max(axis=(1, 2), keepdims=True)
    assert np.abs(analytic - fd).max() <= 1e-6 * scale.min()
    assert np.abs(analytic[..., body.num_hinges]).max() == 0.0
    assert np.abs(analytic[:, 3:6]).max() > 0  # the root's rotation responds to the controls


def test_closed_form_control_jacobian_rejects_other_integrators():
    body = build_body()
    body.model.opt.integrator = mujoco.mjtIntegrator.mjINT_RK4
    with pytest.raises(ValueError, match="implicitfast"):
        Simulator(body, 4, substeps=3, threads=1)
