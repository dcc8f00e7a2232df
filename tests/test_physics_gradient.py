"""Adjoint gradient of a rollout with ground contact against central differences of the whole rollout."""

import mujoco
import numpy as np
import pytest
import torch

from phymo.data import walking_motion
from phymo.physics.adjoint import Simulator, differentiable_rollout
from phymo.physics.body import BodyConfig, build_body, motion_to_qpos, qpos_to_qvel


@pytest.mark.parametrize("seed,interp", [(0, "linear"), (1, "hold"), (2, "hold")])
def test_adjoint_matches_central_differences(seed, interp):
    rng = np.random.default_rng(seed)
    body = build_body(config=BodyConfig(height=1.7 + 0.1 * rng.random(), mass=60 + 20 * rng.random()))
    motion = walking_motion(1.0, 30.0, skeleton=body.skeleton)
    start = int(rng.integers(0, 20))
    qpos = motion_to_qpos(body, motion)[start:]
    qvel = qpos_to_qvel(body, qpos, 1 / 30)
    frames = 5
    sim = Simulator(body, frames, 30.0, substeps=4, knot_every=2, interp=interp, threads=2)
    knots = torch.tensor(rng.normal(0, 0.05, (sim.num_knots, body.nu)), requires_grad=True)
    x0 = torch.tensor(np.concatenate([np.zeros(body.nv), qvel[0]]), requires_grad=True)
    weights = torch.tensor(rng.normal(size=(frames, 22, 3)))

    def loss(x, k):
        pos = differentiable_rollout(sim, qpos[0], x, k)
        return (weights * pos).sum() + 10 * ((pos[..., 2] - 0.05) ** 2).sum()

    loss(x0, knots).backward()
    sim.run(qpos[0], x0.detach().numpy(), knots.detach().numpy())
    contacts = 0
    for q in sim.last["qpos"]:
        sim._datas[0].qpos[:] = q
        mujoco.mj_forward(sim.model, sim._datas[0])
        contacts += sim._datas[0].ncon
    assert contacts > 0, "the window must include ground contact"
    h = 1e-6
    for _ in range(3):
        dk = torch.tensor(rng.normal(size=knots.shape))
        dx = 0.1 * torch.tensor(rng.normal(size=x0.shape))
        adjoint = float((knots.grad * dk).sum() + (x0.grad * dx).sum())
        with torch.no_grad():
            fd = float(loss(x0 + h * dx, knots + h * dk) - loss(x0 - h * dx, knots - h * dk)) / (2 * h)
        assert abs(adjoint - fd) <= 1e-3 * abs(fd), (adjoint, fd)
    sim.close()


def test_threaded_jacobians_equal_serial():
    body = build_body()
    motion = walking_motion(0.3, 30.0, skeleton=body.skeleton)
    qpos = motion_to_qpos(body, motion)
    qvel = qpos_to_qvel(body, qpos, 1 / 30)
    knots = np.random.default_rng(0).normal(0, 0.05, (4, body.nu))
    out = []
    for threads in (1, 2):
        sim = Simulator(body, 4, 30.0, substeps=3, threads=threads)
        sim.run(qpos[0], np.concatenate([np.zeros(body.nv), qvel[0]]), knots)
        out.append(sim.transition_jacobians(sim.last["qpos"], sim.last["qvel"], sim.last["ctrl"]))
        sim.close()
    np.testing.assert_array_equal(out[0][0], out[1][0])
    np.testing.assert_array_equal(out[0][1], out[1][1])


def test_closed_form_control_jacobian_matches_finite_differences():
    """B in closed form equals mjd_transitionFD's, with ground contact, a clamped control and the free joint."""
    body = build_body()
    motion = walking_motion(1.0, 30.0, skeleton=body.skeleton)
    qpos = motion_to_qpos(body, motion)
    qvel = qpos_to_qvel(body, qpos, 1 / 30)
    rng = np.random.default_rng(3)
    frames = 8
    knots = rng.normal(0, 0.3, (frames, body.nu))
    knots[:, 5] = 1.5  # beyond ctrlrange: clamped, so its column must vanish
    x0 = np.concatenate([rng.normal(0, 0.01, body.nv), qvel[0] + rng.normal(0, 0.3, body.nv)])
    sim = Simulator(body, frames, 30.0, substeps=3, interp="linear", threads=2)
    sim.run(qpos[0], x0, knots)
    traj = sim.last
    B = {"analytic": sim.transition_jacobians(traj["qpos"], traj["qvel"], traj["ctrl"])[1]}
    d = sim._datas[0]
    fd, contacts = np.zeros_like(B["analytic"]), 0
    for t in range(len(traj["ctrl"])):  # the oracle: MuJoCo's centred finite differences of the step
        d.qpos[:], d.qvel[:], d.ctrl[:] = traj["qpos"][t], traj["qvel"][t], traj["ctrl"][t]
        mujoco.mjd_transitionFD(sim.model, d, 1e-6, True, None, fd[t], None, None)
        contacts += d.ncon
    B["fd"] = fd
    sim.close()
    scale = np.abs(B["fd"]).max(axis=(1, 2), keepdims=True)
    assert np.abs(B["analytic"] - B["fd"]).max() <= 1e-6 * scale.min()
    assert np.abs(B["analytic"][..., 5]).max() == 0.0
    assert np.abs(B["analytic"][:, 3:6]).max() > 0  # the root's rotation responds to the controls


def test_closed_form_control_jacobian_rejects_other_integrators():
    body = build_body()
    body.model.opt.integrator = mujoco.mjtIntegrator.mjINT_RK4
    with pytest.raises(ValueError, match="Euler"):
        Simulator(body, 4, 30.0, threads=1)
