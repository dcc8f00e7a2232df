"""Where the overlay's side view stands: a virtual camera beside the body, to show what the video's camera cannot.

A body moved along the real camera's viewing ray projects to nearly the same pixels, so a depth error is
invisible in the camera view. The side camera looks at the motion from 90 degrees about the vertical (world +Z)
from the real camera: distance from the real camera runs left to right across its picture, the real camera
standing off to the left. It looks slightly down, so that the ground grid shows as a plane rather than a line.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from phymo.data import Camera


def panel_width(width: int, height: int) -> int:
    """Width of the side panel beside a ``width`` x ``height`` video, pixels: as tall as the video, no wider than
    it is tall (a standing body is tall) nor than the video (a portrait clip keeps a portrait panel)."""
    return min(width, height)


def side_camera(camera: Camera, points: np.ndarray, width: int, height: int, top: int = 0,
                elevation_deg: float = 12.0, fov_deg: float = 30.0, margin: float = 0.08) -> Camera:
    """The side camera of a ``width`` x ``height`` panel that frames ``points`` and the ground beneath them below
    its first ``top`` rows (kept for the legend).

    Its image right is the horizontal part of ``camera``'s optical axis (a point moved away from the real camera
    moves right, not up or down); it looks down by ``elevation_deg``. The narrow ``fov_deg`` keeps it far away, so
    that the scale hardly changes with depth. Computed once for a clip, so that the view does not follow the body.

    Args:
        camera: the real camera (world frame, Z up, metres).
        points: ``(N, 3)`` world points to frame (every joint of every frame), metres.
        margin: share of the half width and half height kept free at the panel's edges.
    """
    forward = camera.R[2, :2]  # the optical axis, horizontal part
    if np.linalg.norm(forward) < 1e-6:  # looking straight down: the top of its picture is its forward
        forward = -camera.R[1, :2]
    right = np.array([*forward / np.linalg.norm(forward), 0.0])
    side = np.array([-right[1], right[0], 0.0])  # ``right`` turned 90 degrees about +Z
    e = np.radians(elevation_deg)
    view = np.cos(e) * side - np.sin(e) * np.array([0.0, 0.0, 1.0])
    points = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    framed = np.concatenate([points, points * [1.0, 1.0, 0.0]])  # and the ground beneath them
    target = 0.5 * (framed.min(axis=0) + framed.max(axis=0))
    lens = dataclasses.replace(Camera.from_fov(width, height, fov_deg), cy=0.5 * (top + height))
    local = lens.looking_at(target - view, target).to_camera(framed) - [0.0, 0.0, 1.0]  # camera axes, at target
    # a point at (x, y, z) about the target is in the picture from a distance d when |x| / (z + d) <= tan(half fov)
    half = (1 - margin) * np.array([lens.cx / lens.fx, (height - lens.cy) / lens.fy])
    distance = max(float((np.abs(local[:, :2]) / half - local[:, 2:]).max()), float((0.5 - local[:, 2]).max()))
    return lens.looking_at(target - distance * view, target)
