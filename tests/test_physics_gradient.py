"""Adjoint gradient of a rollout with ground contact against central differences of the whole rollout."""

import mujoco
import numpy as np
import pytest
import torch

from phymo.data.gait import walking_motion
from phymo.physics.adjoint import Simulator, simulate
from phymo.physics.body import BodyConfig, build_body, motion_to_qpos, qpos_to_qvel


@pytest.mark.parametrize("seed,centered,interp", [(0, False, "linear"), (1, True, "hold"), (2, False, "hold")])
def test_adjoint_matches_central_differences(seed, centered, interp):
    rng = np.random.default_rng(seed)
    body = build_body(config=BodyConfig(height=1.7 + 0.1 * rng.random(), mass=60 + 20 * rng.random()))
    motion = walking_motion(1.0, 30.0, skeleton=body.skeleton)
    start = int(rng.integers(0, 20))
    qpos = motion_to_qpos(body, motion)[start:]
    qvel = qpos_to_qvel(body, qpos, 1 / 30)
    frames = 5
    sim = Simulator(body, frames, 30.0, substeps=4, knot_every=2, interp=interp, threads=2, centered=centered)
    knots = torch.tensor(rng.normal(0, 0.05, (sim.num_knots, body.nu)), requires_grad=True)
    x0 = torch.tensor(np.concatenate([np.zeros(body.nv), qvel[0]]), requires_grad=True)
    weights = torch.tensor(rng.normal(size=(frames, 22, 3)))

    def loss(x, k):
        pos = simulate(sim, qpos[0], x, k)
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
    B = {}
    for mode in ("analytic", "fd"):
        sim = Simulator(body, frames, 30.0, substeps=3, threads=2, centered=True, control_jacobian=mode)
        sim.run(qpos[0], x0, knots)
        B[mode] = sim.transition_jacobians(sim.last["qpos"], sim.last["qvel"], sim.last["ctrl"])[1]
        d = sim._datas[0]
        contacts = 0
        for q in sim.last["qpos"]:
            d.qpos[:] = q
            mujoco.mj_forward(sim.model, d)
            contacts += d.ncon
        sim.close()
    assert contacts > 0, "the window must include ground contact"
    scale = np.abs(B["fd"]).max(axis=(1, 2), keepdims=True)
    assert np.abs(B["analytic"] - B["fd"]).max() <= 1e-6 * scale.min()
    assert np.abs(B["analytic"][..., 5]).max() == 0.0
    assert np.abs(B["analytic"][:, 3:6]).max() > 0  # the root's rotation responds to the controls


def test_closed_form_control_jacobian_rejects_other_integrators():
    body = build_body()
    body.model.opt.integrator = mujoco.mjtIntegrator.mjINT_RK4
    with pytest.raises(ValueError, match="Euler"):
        Simulator(body, 4, 30.0, threads=1)

def test_shared_linearizations_are_the_block_middles():
    """jacobian_every=3: steps 0-2 use step 1's exact (A, B), steps 3-5 step 4's, the last block its own middle."""
    body = build_body()
    qpos = motion_to_qpos(body, walking_motion(0.3, 30.0, skeleton=body.skeleton))
    qvel = qpos_to_qvel(body, qpos, 1 / 30)
    knots = np.random.default_rng(0).normal(0, 0.05, (3, body.nu))
    x0 = np.concatenate([np.zeros(body.nv), qvel[0]])
    jac = {}
    for every in (1, 3):
        sim = Simulator(body, 3, 30.0, substeps=4, threads=2, jacobian_every=every)  # 8 steps
        sim.run(qpos[0], x0, knots)
        jac[every] = sim.transition_jacobians(sim.last["qpos"], sim.last["qvel"], sim.last["ctrl"])
        sim.close()
    for t, src in enumerate([1, 1, 1, 4, 4, 4, 7, 7]):
        np.testing.assert_array_equal(jac[3][0][t], jac[1][0][src])
        np.testing.assert_array_equal(jac[3][1][t], jac[1][1][src])
    with pytest.raises(ValueError, match="jacobian_every"):
        Simulator(body, 3, 30.0, jacobian_every=0)
