"""Pinhole camera (OpenCV convention) shared by synthetic data, the video front end and the loss.

Camera frame: x right, y down, z forward (optical axis), metres. World frame: phymo's Z-up metres.
Extrinsics map world to camera: ``X_cam = R @ X_world + t``. Pixels: origin at the top-left
corner of the top-left pixel, u right, v down.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .rotations import _is_torch


@dataclass(frozen=True)
class Camera:
    """Intrinsics ``K`` (fx, fy, cx, cy in pixels), extrinsics ``R, t``, image size in pixels."""

    fx: float
    fy: float
    cx: float
    cy: float
    width: int
    height: int
    R: np.ndarray = field(default_factory=lambda: np.eye(3), repr=False)
    t: np.ndarray = field(default_factory=lambda: np.zeros(3), repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "R", np.asarray(self.R, dtype=np.float64).reshape(3, 3))
        object.__setattr__(self, "t", np.asarray(self.t, dtype=np.float64).reshape(3))
        if not (self.fx > 0 and self.fy > 0):
            raise ValueError(f"focal lengths must be positive, got fx={self.fx}, fy={self.fy}")
        if not (self.width > 0 and self.height > 0):
            raise ValueError(f"image size must be positive, got {self.width}x{self.height}")

    @property
    def K(self) -> np.ndarray:
        return np.array([[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]])

    @property
    def center(self) -> np.ndarray:
        """Camera centre in world coordinates, metres."""
        return -self.R.T @ self.t

    @classmethod
    def from_fov(cls, width: int, height: int, fov_deg: float = 60.0, **extrinsics) -> Camera:
        """Square pixels, principal point at the image centre, horizontal field of view ``fov_deg``."""
        if not 1.0 < fov_deg < 179.0:
            raise ValueError(f"field of view must be in (1, 179) degrees, got {fov_deg}")
        f = 0.5 * width / np.tan(np.radians(fov_deg) / 2)
        return cls(f, f, width / 2.0, height / 2.0, width, height, **extrinsics)

    def looking_at(self, eye, target, up=(0.0, 0.0, 1.0)) -> Camera:
        """This camera's intrinsics placed at ``eye`` (world, metres) looking at ``target``."""
        eye, target, up = (np.asarray(v, dtype=np.float64) for v in (eye, target, up))
        z = target - eye
        z /= np.linalg.norm(z)
        x = np.cross(z, up)
        if np.linalg.norm(x) < 1e-9:
            raise ValueError("camera viewing direction is parallel to the up vector")
        x /= np.linalg.norm(x)
        y = np.cross(z, x)
        R = np.stack([x, y, z])
        return Camera(self.fx, self.fy, self.cx, self.cy, self.width, self.height, R, -R @ eye)

    def to_camera(self, points):
        """World points ``(..., 3)`` to camera coordinates ``(..., 3)``, metres (numpy or torch)."""
        R, t = self.R, self.t
        if _is_torch(points):
            import torch

            R = torch.as_tensor(R, dtype=points.dtype, device=points.device)
            t = torch.as_tensor(t, dtype=points.dtype, device=points.device)
        return points @ R.T + t

    def project(self, points, min_depth: float = 1e-3):
        """World points ``(..., 3)`` to pixels ``(..., 2)``; depth is clamped at ``min_depth`` metres."""
        pc = self.to_camera(points)
        z = pc[..., 2:3].clamp(min=min_depth) if _is_torch(pc) else np.maximum(pc[..., 2:3], min_depth)
        uv = pc[..., :2] / z
        if _is_torch(uv):
            import torch

            f = torch.as_tensor([self.fx, self.fy], dtype=uv.dtype, device=uv.device)
            c = torch.as_tensor([self.cx, self.cy], dtype=uv.dtype, device=uv.device)
            return uv * f + c
        return uv * np.array([self.fx, self.fy]) + np.array([self.cx, self.cy])

    def to_dict(self) -> dict:
        return {"fx": self.fx, "fy": self.fy, "cx": self.cx, "cy": self.cy, "width": self.width,
                "height": self.height, "R": self.R.tolist(), "t": self.t.tolist()}

    @classmethod
    def from_dict(cls, d: dict) -> Camera:
        return cls(float(d["fx"]), float(d["fy"]), float(d["cx"]), float(d["cy"]), int(d["width"]),
                   int(d["height"]), np.asarray(d.get("R", np.eye(3))), np.asarray(d.get("t", np.zeros(3))))
