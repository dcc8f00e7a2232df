"""A procedural walking motion on any canonical-topology skeleton: the demo's built-in input.

The gait is driven by sinusoidal joint angles (hip, knee, ankle, arm swing, pelvis yaw) at a
given cadence. The root's forward travel is integrated so that the foot joint in contact (the lowest)
does not slide, and the root height keeps the lowest foot point on the ground (z = 0), so the
clip is physically plausible enough for a simulated humanoid to track. With a turn radius the body
turns left by the travelled distance over the radius, and the root moves so that the foot joint in
contact stays where it is on the ground: the walk circles, and one of any length stays near its start.
"""

from __future__ import annotations

import numpy as np

from .motion import Motion
from .rotations import axis_angle_to_quat, identity_quat, quat_mul
from .skeleton import CANONICAL, Skeleton

#: clearance of the foot's sole below the ankle/toe joints, metres (joints sit inside the foot)
SOLE_CLEARANCE = 0.02


def walking_motion(duration_s: float = 3.0, fps: float = 30.0, cadence_hz: float = 0.9,
                   skeleton: Skeleton = CANONICAL, turn_radius_m: float | None = None) -> Motion:
    """A walk starting at the origin along +X: straight, or on a circle to the left (centre ``(0, R, 0)``).

    Args:
        duration_s: clip length in seconds.
        fps: frames per second.
        cadence_hz: gait cycles (two steps) per second.
        skeleton: a skeleton with the canonical joint names.
        turn_radius_m: radius of the circle the pelvis follows, metres (None: straight).
    """
    if duration_s <= 0 or fps <= 0 or cadence_hz <= 0 or (turn_radius_m is not None and turn_radius_m <= 0):
        raise ValueError("duration_s, fps, cadence_hz and turn_radius_m must be positive")
    t = np.arange(int(round(duration_s * fps))) / fps
    phase = 2 * np.pi * cadence_hz * t
    rot = identity_quat((len(t), skeleton.num_joints))

    def set_rot(name, axis, angle, pre=None):
        rv = np.zeros((len(t), 3))
        rv[:, "xyz".index(axis)] = angle
        q = axis_angle_to_quat(rv)
        rot[:, skeleton.index(name)] = q if pre is None else quat_mul(q, pre)

    for side, offset in (("left", 0.0), ("right", np.pi)):
        p = phase + offset
        # +Y rotation swings a hanging limb backwards (facing +X), so flexion is negative.
        set_rot(f"{side}_hip", "y", -0.35 * np.sin(p) - 0.05)
        set_rot(f"{side}_knee", "y", 1.1 * np.clip(np.sin(p + 1.5), 0, None) + 0.08)
        set_rot(f"{side}_ankle", "y", -0.15 * np.sin(p - 0.6))
        down = axis_angle_to_quat(np.array([-np.pi / 2 if side == "left" else np.pi / 2, 0.0, 0.0]))
        set_rot(f"{side}_shoulder", "y", 0.3 * np.sin(p), pre=np.broadcast_to(down, (len(t), 4)))
        set_rot(f"{side}_elbow", "z", (-0.25 if side == "left" else 0.25) * np.ones_like(t))  # forward flexion
    set_rot("pelvis", "z", 0.08 * np.sin(phase))

    rel = Motion(skeleton, fps, np.zeros((len(t), 3)), rot).positions()
    feet = [skeleton.index(n) for n in ("left_ankle", "left_toe", "right_ankle", "right_toe")]
    # Forward travel pins the lowest foot joint (heel strike, flat foot or toe-off) to the ground:
    # the root moves by the opposite of that joint's motion relative to the root.
    contact = np.array(feet)[np.argmin(rel[:, feet, 2], axis=1)]
    frames = np.arange(1, len(t))
    step = rel[frames - 1, contact[1:], 0] - rel[frames, contact[1:], 0]
    root_x = np.concatenate([[0.0], np.cumsum(np.maximum(step, 0.0))])
    root_z = -rel[:, feet, 2].min(axis=1) + SOLE_CLEARANCE
    root = np.stack([root_x, np.zeros_like(t), root_z], axis=1)
    if turn_radius_m is not None:
        heading = root_x / turn_radius_m  # the travelled arc turns the body by its angle
        # root_t = root_{t-1} + (contact joint at t-1) - (the same joint at t), both turned by their frame's
        # heading: that joint stays where it is on the ground
        planted = rel[frames, contact[1:], :2]
        before = rel[frames - 1, contact[1:], :2]
        root[1:, :2] = np.cumsum(_turned(before, heading[:-1]) - _turned(planted, heading[1:]), axis=0)
        rot[:, 0] = quat_mul(axis_angle_to_quat(heading[:, None] * np.array([0.0, 0.0, 1.0])), rot[:, 0])
    return Motion(skeleton, fps, root, rot)


def _turned(xy: np.ndarray, angle: np.ndarray) -> np.ndarray:
    """``(T, 2)`` horizontal vectors turned by ``angle (T,)`` radians about +Z."""
    c, s = np.cos(angle), np.sin(angle)
    return np.stack([c * xy[:, 0] - s * xy[:, 1], s * xy[:, 0] + c * xy[:, 1]], axis=1)
