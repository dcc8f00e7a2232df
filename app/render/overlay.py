"""Overlay video: the reconstructed body drawn over the input frames with OpenCV, and a side view beside them.

Draws, per frame: a ground grid (z = 0 plane, projected), each bone as a capsule outline whose
width follows its projected radius, joints, and foot-contact markers. Frames are RGB, as
:func:`phymo.pose.iter_frames` gives them; the writer converts to the BGR order OpenCV encodes. Frames
outside every reconstructed segment are written with a note instead of a body. The side panel shows the
physics and the kinematic result from :func:`~.side_view.side_camera`, where a depth error shows.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from phymo.data import Camera, Skeleton, atomic_target

from .side_view import side_camera

BONE_COLOR = (255, 200, 60)  # RGB
KINEMATIC_COLOR = (230, 90, 230)  # the kinematic result, in the side view only
JOINT_COLOR = (255, 255, 255)
CONTACT_COLOR = (40, 220, 40)
GROUND_COLOR = (170, 170, 170)
NOTE_COLOR = (255, 255, 255)


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
    """Draw one frame's body onto ``image`` (RGB, modified in place and returned).

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


@dataclass(frozen=True)
class OverlayBody:
    """One reconstructed segment to draw.

    Attributes:
        frame_index: ``(T,)`` input frame of each row.
        positions: ``(T, J, 3)`` world joint positions, metres.
        camera: the camera (intrinsics and extrinsics) of this segment's world frame.
        skeleton: the joints' skeleton.
        contacts: ``(T, len(foot_indices))`` booleans, per foot joint, or None.
        foot_indices: joints that carry contact markers.
        kinematic, kinematic_contacts: the kinematic result of the same frames, ``(T, J, 3)`` world metres, and
            its contacts like ``contacts``; drawn in the side view only, behind ``positions``.
    """

    frame_index: np.ndarray
    positions: np.ndarray
    camera: Camera
    skeleton: Skeleton
    contacts: np.ndarray | None = None
    foot_indices: tuple[int, ...] = ()
    kinematic: np.ndarray | None = None
    kinematic_contacts: np.ndarray | None = None

    def results(self) -> list[tuple[np.ndarray, np.ndarray | None, tuple[int, int, int]]]:
        """``(positions, contacts, bone colour)`` of the results the side view draws, the kinematic one first."""
        kinematic = [] if self.kinematic is None else [(self.kinematic, self.kinematic_contacts, KINEMATIC_COLOR)]
        return kinematic + [(self.positions, self.contacts, BONE_COLOR)]

    def contacts_at(self, contacts: np.ndarray | None, row: int) -> dict[int, bool] | None:
        """Row ``row`` of ``contacts`` (this body's or its kinematic result's) as :func:`draw_frame` takes it."""
        return None if contacts is None else dict(zip(self.foot_indices, contacts[row], strict=True))


@dataclass(frozen=True)
class SidePanel:
    """One segment's side view: its fixed camera and the background every frame starts from (grid, legend).

    Attributes:
        camera: the side camera (:func:`~.side_view.side_camera`), world frame of the segment.
        background: ``(H, W, 3)`` RGB uint8 panel with the ground grid and the legend drawn.
    """

    camera: Camera
    background: np.ndarray

    @classmethod
    def of(cls, body: OverlayBody, width: int, height: int, shade: int = 40, grid_step: float = 0.5) -> SidePanel:
        """The panel of ``body``: framing every frame of its results, over a grid of ``grid_step`` metres."""
        background = np.full((height, width, 3), shade, np.uint8)
        labels = [("kinematic", KINEMATIC_COLOR)] if body.kinematic is not None else []
        top = _legend(background, "side view, camera to the left",
                      labels + [("physics", BONE_COLOR), ("foot contact", CONTACT_COLOR)])
        points = np.concatenate([p.reshape(-1, 3) for p, _, _ in body.results()])
        camera = side_camera(body.camera, points, width, height, top)
        lo, hi = points[:, :2].min(axis=0), points[:, :2].max(axis=0)
        half = grid_step * np.ceil((0.5 * (hi - lo).max() + grid_step) / grid_step)
        grid, visible = _ground_grid(camera, 0.5 * (lo + hi), half, grid_step)
        ground = background[top:]  # rows below the legend, a view: the far grid lines stop short of it
        for (p, q), ok in zip(grid - [0, top], visible, strict=True):
            if ok:
                cv2.line(ground, _px(p), _px(q), GROUND_COLOR, 1, cv2.LINE_AA)
        return cls(camera, background)

    def draw(self, body: OverlayBody, row: int) -> np.ndarray:
        """A new panel image with ``body``'s results at row ``row``."""
        image = self.background.copy()
        for positions, contacts, colour in body.results():
            draw_frame(image, positions[row], self.camera, body.skeleton, contacts=body.contacts_at(contacts, row),
                       bone_color=colour, ground_grid=False)
        return image


def write_overlay_video(path: Path, frames: Iterable[tuple[int, np.ndarray | None]], bodies: Sequence[OverlayBody],
                        fps: float, width: int, height: int, shade: int = 40, side_width: int = 0) -> int:
    """Write an MP4 of ``frames`` with each body drawn on its frames; returns the number of frames written.

    Args:
        frames: ``(input frame index, RGB frame (H, W, 3) uint8)``; a None frame is a plain dark background.
        bodies: the reconstructed segments; a frame in none of them carries a note instead.
        fps, width, height: of the input frames; the video is ``width + side_width`` wide.
        side_width: width of the :class:`SidePanel` to the right of each frame, pixels (0: none).
    """
    rows = {int(f): (b, r) for b in bodies for r, f in enumerate(b.frame_index)}
    panels = {id(b): SidePanel.of(b, side_width, height, shade) for b in bodies} if side_width else {}
    empty = np.full((height, side_width, 3), shade, np.uint8)
    written = 0
    with atomic_target(path) as tmp:
        writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*"mp4v"), float(fps), (width + side_width, height))
        if not writer.isOpened():
            raise OSError(f"{path}: OpenCV cannot open an MP4 writer here")
        try:
            for index, frame in frames:
                image = (np.full((height, width, 3), shade, np.uint8) if frame is None
                         else np.array(frame, dtype=np.uint8, order="C", copy=True))
                side = empty
                if int(index) in rows:
                    body, r = rows[int(index)]
                    draw_frame(image, body.positions[r], body.camera, body.skeleton,
                               contacts=body.contacts_at(body.contacts, r))
                    side = panels[id(body)].draw(body, r) if panels else empty
                else:
                    _note(image, "no person reconstructed")
                writer.write(cv2.cvtColor(np.concatenate([image, side], axis=1), cv2.COLOR_RGB2BGR))
                written += 1
        finally:
            writer.release()
    return written


def _note(image: np.ndarray, text: str) -> None:
    """``text`` at the top left of ``image``, white on a dark box (legible on sky and snow alike)."""
    scale = max(0.5, image.shape[0] / 900)
    (w, h), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 2)
    pad = int(6 * scale)
    cv2.rectangle(image, (0, 0), (w + 2 * pad, h + base + 2 * pad), (0, 0, 0), -1)
    cv2.putText(image, text, (pad, pad + h), cv2.FONT_HERSHEY_SIMPLEX, scale, NOTE_COLOR, 2, cv2.LINE_AA)


def _legend(image: np.ndarray, title: str, labels: Sequence[tuple[str, tuple[int, int, int]]]) -> int:
    """``title``, then ``labels`` (text, colour) one a line, each after a swatch of its colour, at the top left;
    returns the rows it takes."""
    scale = max(0.35, min(image.shape[:2]) / 900)
    thick = 2 if scale >= 1 else 1
    (_, h), base = cv2.getTextSize("Ag", cv2.FONT_HERSHEY_SIMPLEX, scale, thick)
    pad, line = int(6 * scale) + 2, h + base + int(6 * scale)
    cv2.putText(image, title, (pad, pad + h), cv2.FONT_HERSHEY_SIMPLEX, scale, NOTE_COLOR, thick, cv2.LINE_AA)
    for k, (text, colour) in enumerate(labels, start=1):
        y = pad + k * line + h
        cv2.rectangle(image, (pad, y - h), (pad + h, y), colour, -1)
        cv2.putText(image, text, (2 * pad + h, y), cv2.FONT_HERSHEY_SIMPLEX, scale, colour, thick, cv2.LINE_AA)
    return pad + len(labels) * line + h + base


def blank_frames(camera: Camera, count: int, shade: int = 40):
    """``count`` plain dark frames of the camera's size (background for synthetic input)."""
    for _ in range(count):
        yield np.full((camera.height, camera.width, 3), shade, dtype=np.uint8)
