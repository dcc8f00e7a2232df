"""The reference motion the physics tracks: the kinematic estimate grounded, refined and foot-pinned.

The kinematic estimate drifts (its root and leg rotations carry slow errors), so its feet skate and
its poses disagree with the 2D keypoints by far more than the detector's noise. Tracking it as is
would put that error into the simulation. Before any physics, :func:`tracking_reference`:

1. grounds the root height so that the lowest sole touches the floor (:func:`ground_root_height`);
2. refines the motion on the kinematic terms of the window loss (:func:`phymo.physics.loss.window_loss`
   with no controls: robust 2D reprojection, 3D consistency with the estimate, foot skating,
   penetration, smoothness), by L-BFGS through forward kinematics over the whole clip at once;
3. detects stance on the refined motion and pins each stance run of a foot joint at its median
   position (:func:`stance_pins`);
4. refines again with the pins, so that stance feet stand still where the reference puts them.

5. smooths the joint angles once (``smooth_sigma``) and takes the velocities, the site positions and the
   flight phases (no foot joint in contact) from the smoothed trajectory: a :class:`Reference`, which every
   window slices, so a frame's reference is the same whichever window it falls in.

The physics then tracks the result and scores itself against it (``weights.kin_*``, ``weights.foot_pin``).
Measured effect in docs/results.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch

from phymo.data import (
    FOOT_CONTACT,
    FOOT_JOINTS,
    Motion,
    Observations,
    axis_angle_to_quat,
    forward_kinematics,
    quat_mul,
    runs_of_true,
)

from .body import ROOT_QUAT, Body, motion_to_qpos, qpos_to_motion, qpos_to_qvel, site_positions
from .feedforward import servo_targets
from .objective import WindowTargets, window_loss
from .smoothing import smooth_frames

if TYPE_CHECKING:
    from .config import LossWeights, ReferenceConfig


@dataclass(frozen=True)
class Reference:
    """What the physics tracks, frame by frame (``T`` frames, world Z up, metres, radians).

    Attributes:
        motion: the refined, grounded, foot-pinned estimate (before smoothing).
        qpos: ``(T, nq)`` its smoothed MuJoCo positions: the servos' targets are its hinge angles.
        qvel: ``(T, nv)`` their velocities (central differences).
        targets: ``(T, num_hinges)`` the servos' targets: the hinge angles moved by what the servos must push
            to move the body along them (:func:`~phymo.physics.feedforward.servo_targets`).
        sites: ``(T, J, 3)`` the body's joint sites in ``qpos``: what the planner and the loss compare with.
        stance, pins: ``(T, 4)`` foot joints in stance and ``(T, 4, 3)`` where they are pinned (None: no pins).
        flight: ``(T,)`` no foot joint in contact (:data:`phymo.data.metrics.FOOT_CONTACT`): the body is in
            the air, and nothing may hold it up.
    """

    motion: Motion
    qpos: np.ndarray
    qvel: np.ndarray
    targets: np.ndarray
    sites: np.ndarray
    stance: np.ndarray | None
    pins: np.ndarray | None
    flight: np.ndarray

    @property
    def num_frames(self) -> int:
        return len(self.qpos)

    def slice(self, start: int, stop: int) -> Reference:
        """Frames ``[start, stop)``."""
        cut = (lambda a: None if a is None else a[start:stop])  # noqa: E731
        return Reference(self.motion.slice(start, stop), self.qpos[start:stop], self.qvel[start:stop],
                         self.targets[start:stop], self.sites[start:stop], cut(self.stance), cut(self.pins),
                         self.flight[start:stop])


def trajectory(body: Body, motion: Motion, sigma: float, stance: np.ndarray | None = None,
               pins: np.ndarray | None = None) -> Reference:
    """The :class:`Reference` of ``motion``: joint angles smoothed over ``sigma`` frames (quaternion signs made
    continuous first), velocities, servo targets, sites and flight phases."""
    q = motion_to_qpos(body, motion)
    quat = q[:, ROOT_QUAT]
    for i in range(1, len(quat)):
        if np.dot(quat[i], quat[i - 1]) < 0:
            quat[i:] *= -1
    q = smooth_frames(q, sigma)
    q[:, ROOT_QUAT] /= np.linalg.norm(q[:, ROOT_QUAT], axis=1, keepdims=True)
    sites = site_positions(body, q)
    feet = sites[:, body.foot_sites()]
    flight = ~FOOT_CONTACT.in_contact(feet, FOOT_JOINTS).any(axis=1)
    v = qpos_to_qvel(body, q, 1.0 / motion.fps)
    return Reference(motion, q, v, servo_targets(body, q, v, motion.fps, sigma), sites, stance, pins, flight)


def ground_root_height(body: Body, qpos: np.ndarray, snap: float) -> np.ndarray:
    """Root heights of ``qpos (T, nq)`` shifted so the lowest sole touches z = 0 where it is within ``snap`` m.

    A kinematic estimate floats or sinks by its root error; a walking body always has a foot down.
    Frames whose lowest sole is farther than ``snap`` from the ground (flight) keep the nearest
    grounded frame's shift. Returns the corrected ``(T,)`` root heights.
    """
    sites = site_positions(body, qpos)
    sole = (sites[:, body.foot_sites(), 2] - body.foot_heights()).min(axis=1)
    shift = np.where(np.abs(sole) <= snap, -sole, np.nan)
    if np.all(np.isnan(shift)):
        return qpos[:, 2].copy()
    idx = np.arange(len(shift))
    good = ~np.isnan(shift)
    shift = np.interp(idx, idx[good], shift[good])
    return qpos[:, 2] + shift


def stance_pins(body: Body, motion: Motion, speed: float = 1.0, min_frames: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Stance of the foot joints (:meth:`Body.foot_sites`) and where each stance run is pinned.

    A foot joint is in stance in a frame when it is in contact (:data:`phymo.data.metrics.FOOT_CONTACT`)
    and its (smoothed) horizontal speed is below ``speed`` m/s, for at least ``min_frames`` consecutive
    frames. Each run is pinned at its median horizontal position, at the joint's standing height
    (:meth:`Body.foot_heights`). Returns the pins ``(T, 4, 3)`` (NaN outside stance) and the stance mask
    ``(T, 4)``.
    """
    p = motion.positions()
    t, feet = len(p), body.foot_sites()
    pins = np.full((t, len(feet), 3), np.nan)
    mask = np.zeros((t, len(feet)), dtype=bool)
    if t < 3 or not np.all(np.isfinite(p)):
        return pins, mask
    fp = p[:, feet]
    xy = smooth_frames(fp[..., :2].reshape(t, -1), 1.0).reshape(t, len(feet), 2)
    vel = np.linalg.norm(np.gradient(xy, 1.0 / motion.fps, axis=0), axis=-1)
    stance = FOOT_CONTACT.in_contact(fp, FOOT_JOINTS) & (vel <= speed)
    rest = body.foot_heights()
    for j in range(len(feet)):
        for a, b in runs_of_true(stance[:, j]):
            if b - a >= min_frames:
                mask[a:b, j] = True
                pins[a:b, j, :2] = np.median(fp[a:b, j, :2], axis=0)
                pins[a:b, j, 2] = rest[j]
    return pins, mask


def refine_motion(body: Body, obs: Observations, motion: Motion, weights: LossWeights, iterations: int,
                  pins: np.ndarray | None = None, stance: np.ndarray | None = None) -> Motion:
    """``motion`` refined on the kinematic terms of the window loss over the whole clip (L-BFGS).

    The unknowns are a rotation-vector correction of every local rotation and a root translation
    offset per frame, starting at zero; ``motion`` itself is the 3D-consistency target. With ``pins``
    and ``stance`` (from :func:`stance_pins`) the stance feet are drawn to their pins. Keypoints that
    are not finite count as missing.
    """
    sk = motion.skeleton
    kp = np.asarray(obs.keypoints_2d, dtype=np.float64)
    seen = np.all(np.isfinite(kp), axis=-1) & np.isfinite(obs.confidence)
    targets = WindowTargets.from_arrays(np.where(seen[..., None], kp, 0.0), np.where(seen, obs.confidence, 0.0),
                                        motion.positions(), obs.camera, obs.fps, body.foot_sites(), pins, stance)
    rot0, root0 = torch.as_tensor(motion.rotations), torch.as_tensor(motion.root_translation)
    d_rot = torch.zeros(rot0.shape[:-1] + (3,), dtype=torch.float64, requires_grad=True)
    d_root = torch.zeros_like(root0, requires_grad=True)
    no_controls = torch.zeros(1, 1, dtype=torch.float64)  # the control terms of the loss vanish
    opt = torch.optim.LBFGS([d_rot, d_root], lr=1.0, max_iter=iterations, line_search_fn="strong_wolfe")

    def rotations():
        return quat_mul(rot0, axis_angle_to_quat(d_rot))

    def closure():
        opt.zero_grad()
        pos = forward_kinematics(sk.parents, sk.offsets, root0 + d_root, rotations())
        loss, _ = window_loss(pos, no_controls, None, targets, weights)
        loss.backward()
        return loss

    opt.step(closure)
    with torch.no_grad():
        return Motion(sk, motion.fps, (root0 + d_root).numpy(), rotations().numpy())


def tracking_reference(body: Body, obs: Observations, config: ReferenceConfig) -> Reference | None:
    """The :class:`Reference` of ``obs.kinematic`` (see the module docstring). ``config.refine_iterations`` 0
    skips the refinement; a non-finite estimate has none (None: its windows fall back)."""
    ref = obs.kinematic
    if not (np.all(np.isfinite(ref.root_translation)) and np.all(np.isfinite(ref.rotations))):
        return None
    if config.ground_snap > 0:  # ground first, so that the feet are pinned on the floor
        q = motion_to_qpos(body, ref)
        q[:, 2] = ground_root_height(body, q, config.ground_snap)
        ref = qpos_to_motion(body, q, ref.fps)
    if config.refine_iterations > 0:
        ref = refine_motion(body, obs, ref, config.refine_weights, config.refine_iterations)
    pins, stance = stance_pins(body, ref, config.pin_speed)
    if config.refine_iterations > 0 and stance.any():
        ref = refine_motion(body, obs, ref, config.refine_weights, config.refine_iterations, pins, stance)
    return trajectory(body, ref, config.smooth_sigma, stance, pins)
