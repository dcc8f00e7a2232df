"""Motion: a skeleton animated by root translation and local joint rotations, with forward kinematics."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .rotations import _is_torch, matrix_to_quat, quat_normalize, quat_slerp, quat_to_matrix
from .skeleton import Skeleton


def forward_kinematics(parents, offsets, root_translation, rotations, return_global_rotations: bool = False):
    """World joint positions from local rotations; numpy or torch, any batch shape.

    Args:
        parents: parent index per joint (root ``-1``), topologically ordered.
        offsets: ``(J, 3)`` or ``(..., J, 3)`` rest offsets in the parent frame, metres.
        root_translation: ``(..., 3)`` world position of the root joint, metres.
        rotations: ``(..., J, 4)`` local unit quaternions, w-first; the root's is its world rotation.

    Returns:
        ``(..., J, 3)`` world positions (and ``(..., J, 4)`` world rotations, ``w >= 0``, if asked).
    """
    pos, world = forward_kinematics_matrices(parents, offsets, root_translation, quat_to_matrix(rotations),
                                             return_global_rotations)
    return (pos, matrix_to_quat(world)) if return_global_rotations else pos


def forward_kinematics_matrices(parents, offsets, root_translation, rotations, return_global_rotations: bool = False):
    """phymo's forward kinematics: world joint positions from local rotation matrices; numpy or torch.

    Args:
        parents: parent index per joint (root ``-1``), topologically ordered.
        offsets: ``(J, 3)`` or ``(..., J, 3)`` rest offsets in the parent frame, metres.
        root_translation: ``(..., 3)`` world position of the root joint, metres.
        rotations: ``(..., J, 3, 3)`` local rotation matrices; the root's is its world rotation.

    Returns:
        ``(..., J, 3)`` world positions and, if asked (else None), ``(..., J, 3, 3)`` world rotations.
        Torch inputs stay differentiable; matrices rather than quaternions keep the per-joint chain to two
        matrix products (about 4x faster under autograd than quaternion products).
    """
    if _is_torch(rotations):
        import torch

        offsets = torch.as_tensor(offsets, dtype=rotations.dtype, device=rotations.device)
        stack = torch.stack
    else:
        stack = np.stack
    positions, world = [], []
    for j, p in enumerate(parents):
        if p < 0:
            positions.append(root_translation)
            world.append(rotations[..., j, :, :])
        else:
            positions.append(positions[p] + (world[p] @ offsets[..., j, :, None])[..., 0])
            world.append(world[p] @ rotations[..., j, :, :])
    return stack(positions, -2), (stack(world, -3) if return_global_rotations else None)


@dataclass
class Motion:
    """A motion clip in phymo's internal frame (Z up, metres, right-handed).

    Attributes:
        skeleton: the kinematic tree and its rest offsets.
        fps: frames per second.
        root_translation: ``(T, 3)`` world position of the root joint, metres.
        rotations: ``(T, J, 4)`` local joint rotations, unit quaternions, w-first.
    """

    skeleton: Skeleton
    fps: float
    root_translation: np.ndarray = field(repr=False)
    rotations: np.ndarray = field(repr=False)

    def __post_init__(self) -> None:
        self.root_translation = np.asarray(self.root_translation, dtype=np.float64)
        self.rotations = np.asarray(self.rotations, dtype=np.float64)
        t = self.root_translation.shape[0]
        if self.root_translation.shape != (t, 3):
            raise ValueError(f"root_translation must be (T, 3), got {self.root_translation.shape}")
        if self.rotations.shape != (t, self.skeleton.num_joints, 4):
            raise ValueError(f"rotations must be (T={t}, J={self.skeleton.num_joints}, 4), got {self.rotations.shape}")
        if not self.fps > 0:
            raise ValueError(f"fps must be positive, got {self.fps}")

    @property
    def num_frames(self) -> int:
        return self.root_translation.shape[0]

    @property
    def duration(self) -> float:
        """Seconds covered by the frames (``T / fps``)."""
        return self.num_frames / self.fps

    def positions(self) -> np.ndarray:
        """``(T, J, 3)`` world joint positions, metres."""
        return forward_kinematics(self.skeleton.parents, self.skeleton.offsets, self.root_translation, self.rotations)

    def global_rotations(self) -> np.ndarray:
        """``(T, J, 4)`` world joint rotations, w-first."""
        return forward_kinematics(self.skeleton.parents, self.skeleton.offsets, self.root_translation,
                                  self.rotations, return_global_rotations=True)[1]

    def slice(self, start: int = 0, stop: int | None = None, step: int = 1) -> Motion:
        """Frames ``start:stop:step``; fps is divided by ``step``."""
        sl = np.s_[start:stop:step]
        return Motion(self.skeleton, self.fps / step, self.root_translation[sl], self.rotations[sl])

    def resample(self, fps: float) -> Motion:
        """The same motion sampled at ``fps`` (linear root, slerp rotations), same time span."""
        if fps == self.fps:
            return self
        t_new = np.arange(int(np.floor((self.num_frames - 1) * fps / self.fps)) + 1) / fps
        src = t_new * self.fps
        i0 = np.clip(np.floor(src).astype(int), 0, self.num_frames - 1)
        i1 = np.clip(i0 + 1, 0, self.num_frames - 1)
        w = (src - i0)[:, None]
        root = (1 - w) * self.root_translation[i0] + w * self.root_translation[i1]
        rot = quat_slerp(self.rotations[i0], self.rotations[i1], w[:, None])
        return Motion(self.skeleton, fps, root, quat_normalize(rot))
