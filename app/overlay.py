"""Overlay video: the reconstructed body drawn over the input frames with OpenCV.

Draws, per frame: a ground grid (z = 0 plane, projected), each bone as a capsule outline whose
width follows its projected radius, joints, and foot-contact markers. The frames come from any
iterable of BGR images (the input video, or a plain background for synthetic input).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import cv2
import numpy as np

from phymo.data import Camera, Skeleton
from phymo.data.export import atomic_target

BONE_COLOR = (60, 200, 255)  # BGR
JOINT_COLOR = (255, 255, 255)
CONTACT_COLOR = (40, 220, 40)
GROUND_COLOR = (170, 170, 170)


def _px(p) -> tuple[int, int]:
    return tuple(int(v) for v in np.round(p))


def _capsule_outline(img, a, b, radius_px, color):
    """A 2D capsule between pixel points a and b: two tangent lines and two end circles."""
    d = b - a
    n = np.linalg.norm(d)
    r = max(int(round(radius_px)), 1)
    if n < 1e-6:
        cv2.circle(img, _px(a), r, color, 1, cv2.LINE_AA)
        return
    perp = np.array([-d[1], d[0]]) / n * radius_px
    for s in (1, -1):
        p, q = a + s * perp, b + s * perp
        cv2.line(img, _px(p), _px(q), color, 2, cv2.LINE_AA)
    for c in (a, b):
        cv2.circle(img, _px(c), r, color, 1, cv2.LINE_AA)


def _ground_grid(camera: Camera, center_xy: np.ndarray, half_size: float = 2.0, step: float = 0.5):
    """Projected end points ``(L, 2, 2)`` of grid lines on z = 0 around ``center_xy``, and which are in front."""
    cx, cy, h = center_xy[0], center_xy[1], half_size
    lines = []
    for v in np.arange(-h, h + 1e-9, step):
        lines.append(([cx + v, cy - h, 0.0], [cx + v, cy + h, 0.0]))
        lines.append(([cx - h, cy + v, 0.0], [cx + h, cy + v, 0.0]))
    pts = np.array(lines)
    depth = camera.to_camera(pts)[..., 2]
    return camera.project(pts), (depth > 0.1).all(axis=-1)


def draw_frame(image: np.ndarray, joints_world: np.ndarray, camera: Camera, skeleton: Skeleton,
               bone_radius_m: float = 0.05, contacts: dict[int, bool] | None = None,
               bone_color: tuple[int, int, int] = BONE_COLOR, ground_grid: bool = True) -> np.ndarray:
    """Draw one frame's body onto ``image`` (BGR, modified in place and returned).

    Args:
        joints_world: ``(J, 3)`` world joint positions, metres.
        contacts: joint index -> in contact with the ground (drawn as filled green discs).
    """
    if ground_grid:
        grid, visible = _ground_grid(camera, joints_world[0, :2])
        for (p, q), ok in zip(grid, visible, strict=True):
            if ok:
                cv2.line(image, _px(p), _px(q), GROUND_COLOR, 1, cv2.LINE_AA)
    uv = camera.project(joints_world)
    depth = np.maximum(camera.to_camera(joints_world)[:, 2], 1e-3)
    radius_px = bone_radius_m * camera.fx / depth
    for j, p in enumerate(skeleton.parents):
        if p >= 0 and np.linalg.norm(skeleton.offsets[j]) > 1e-6:
            _capsule_outline(image, uv[p], uv[j], 0.5 * (radius_px[p] + radius_px[j]), bone_color)
    for j in range(skeleton.num_joints):
        cv2.circle(image, _px(uv[j]), 3, JOINT_COLOR, -1, cv2.LINE_AA)
    for j, on in (contacts or {}).items():
        if on:
            cv2.circle(image, _px(uv[j]), max(int(radius_px[j] * 0.6), 5), CONTACT_COLOR, -1,
                       cv2.LINE_AA)
    return image


def write_overlay_video(path: Path, frames: Iterable[np.ndarray], joints_world: np.ndarray, camera: Camera,
                        skeleton: Skeleton, fps: float, contacts: np.ndarray | None = None,
                        foot_indices: tuple[int, ...] = ()) -> int:
    """Write an MP4 of ``frames`` with the body drawn over them; returns the number of frames written.

    Args:
        joints_world: ``(T, J, 3)`` world positions, metres; frames beyond ``T`` are not written.
        contacts: ``(T, len(foot_indices))`` booleans, per foot joint.
    """
    written = 0
    with atomic_target(path) as tmp:
        writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*"mp4v"), float(fps), (camera.width, camera.height))
        if not writer.isOpened():
            raise OSError(f"{path}: OpenCV cannot open an MP4 writer here")
        try:
            for t, frame in enumerate(frames):
                if t >= len(joints_world):
                    break
                c = None if contacts is None else dict(zip(foot_indices, contacts[t], strict=True))
                writer.write(draw_frame(np.ascontiguousarray(frame), joints_world[t], camera, skeleton, contacts=c))
                written += 1
        finally:
            writer.release()
    return written


def blank_frames(camera: Camera, count: int, shade: int = 40):
    """``count`` plain dark BGR frames of the camera's size (background for synthetic input)."""
    for _ in range(count):
        yield np.full((camera.height, camera.width, 3), shade, dtype=np.uint8)
