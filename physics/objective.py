"""What a window is judged by: the planner's tracking cost (numpy, batched) and the DiffPhy-style loss that
the gradient refinement minimizes (torch, float64), both over simulated joint positions.

The planner's cost (:func:`plan_cost`) compares a batch of rollouts with the reference the way MuJoCo MPC's
humanoid tracking task does: the centroid of the joints, and every joint relative to that centroid, under
a smooth absolute-value norm, so that a rollout far off is not chased at any price, plus the size of the
servo offsets. The window loss (:func:`window_loss`) adds what the video says: reprojection of the joints
onto the keypoints, the feet's stance and the ground.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from phymo.data import FOOT_CONTACT, FOOT_JOINTS, Camera

from .config import LossWeights

#: the planner's weights (MuJoCo MPC's humanoid tracking task: centroid 100, each joint about it 30; the centroid
#: here 300, chosen on the training split: 100 let walks drift 0.05-0.18 m in the world, 1000 cost the pose 5 mm),
#: its smooth-abs scale (m), and the centroid's height counted twice (a body that sinks is about to fall)
CENTROID_WEIGHT, POSE_WEIGHT, SMOOTH_ABS, HEIGHT_FACTOR = 300.0, 30.0, 0.1, 2.0


def smooth_abs(x: np.ndarray, p: float) -> np.ndarray:
    """``sqrt(x^2 + p^2) - p``: quadratic near 0, growing like ``|x|`` beyond ``p``."""
    return np.sqrt(x * x + p * p) - p


def plan_cost(sites: np.ndarray, reference: np.ndarray, offsets: np.ndarray, control_cost: float) -> np.ndarray:
    """``(B,)`` cost of rollouts whose joint sites are ``sites (B, H, J, 3)`` against ``reference (H, J, 3)``
    (world, metres), with servo target offsets ``offsets (B, ...)`` (rad) weighted by ``control_cost``."""
    centroid, ref_centroid = sites.mean(axis=2), reference.mean(axis=1)
    scale = np.array([1.0, 1.0, HEIGHT_FACTOR])
    centre = smooth_abs(np.linalg.norm((centroid - ref_centroid) * scale, axis=-1), SMOOTH_ABS).sum(axis=1)
    pose = (sites - centroid[:, :, None]) - (reference - ref_centroid[:, None])
    shape = smooth_abs(np.linalg.norm(pose, axis=-1), SMOOTH_ABS).sum(axis=(1, 2))
    effort = (offsets.reshape(len(offsets), -1) ** 2).sum(axis=1)
    return CENTROID_WEIGHT * centre + POSE_WEIGHT * shape + control_cost * effort


@dataclass
class WindowTargets:
    """What a window's loss compares against (torch float64 tensors).

    Attributes:
        keypoints_2d: ``(F, J, 2)`` pixels (finite; missing ones have confidence 0).
        confidence: ``(F, J)`` in [0, 1].
        kinematic: ``(F, J, 3)`` the reference's joint positions, world, metres.
        camera: the pinhole camera.
        fps: frames per second.
        foot_joints: indices of the foot joints (ankles, toes, in :data:`phymo.data.FOOT_JOINTS` order).
        foot_pins: ``(F, len(foot_joints), 2)`` pinned horizontal stance positions, finite where
            ``foot_contact`` is 1; with them the skating term uses ``foot_contact``
            instead of a height test on the reference's feet.
        foot_contact: ``(F, len(foot_joints))`` 1 where the reference has the foot joint in stance, else 0.
        plan: ``(F, J, 3)`` the joints as the planner executed them: the refinement keeps their centroid and the
            feet near it (``LossWeights.plan``), the balance the planner found over its longer look-ahead.
    """

    keypoints_2d: torch.Tensor
    confidence: torch.Tensor
    kinematic: torch.Tensor
    camera: Camera
    fps: float
    foot_joints: list[int]
    foot_pins: torch.Tensor | None = None
    foot_contact: torch.Tensor | None = None
    plan: torch.Tensor | None = None

    @classmethod
    def from_arrays(cls, keypoints_2d, confidence, kinematic, camera, fps, foot_joints, foot_pins=None,
                    foot_contact=None, plan=None):
        t = lambda a: None if a is None else torch.as_tensor(np.asarray(a, dtype=np.float64))  # noqa: E731
        if foot_pins is not None:
            foot_pins = np.nan_to_num(np.asarray(foot_pins, dtype=np.float64)[..., :2])
        return cls(t(keypoints_2d), t(confidence), t(kinematic), camera, fps, list(foot_joints), t(foot_pins),
                   t(foot_contact), t(plan))


def loss_terms(pos: torch.Tensor, controls: torch.Tensor, residual: torch.Tensor | None, targets: WindowTargets,
               w: LossWeights) -> dict[str, torch.Tensor]:
    """Unweighted loss terms for simulated positions ``pos (F, J, 3)``, the servo target offsets ``controls
    (F, n)`` (rad) and the normalized residual controls ``residual (F, 6)`` (None: no residual)."""
    uv = targets.camera.project(pos)
    r2 = ((uv - targets.keypoints_2d) ** 2).sum(-1) / w.reproj_sigma_px ** 2
    conf = targets.confidence
    reproj = (conf * r2 / (1.0 + r2)).sum() / conf.sum().clamp(min=1e-9)
    kin = targets.kinematic
    kin_global = ((pos - kin) ** 2).sum(-1).mean()
    kin_relative = (((pos - pos[:, :1]) - (kin - kin[:, :1])) ** 2).sum(-1).mean()
    knots = controls if residual is None else torch.cat([controls, residual], dim=1)
    offset = (controls ** 2).mean()
    residual = pos.new_zeros(()) if residual is None else (residual ** 2).mean()
    feet = pos[:, targets.foot_joints]
    if targets.foot_contact is not None:
        contact = targets.foot_contact[:-1] * targets.foot_contact[1:]
        foot_pin = (targets.foot_contact * ((feet[..., :2] - targets.foot_pins) ** 2).sum(-1)).mean()
    else:  # the reference's feet, not the simulated ones: a constant, so the gradient is the loss's own
        ref_height = kin[:-1, targets.foot_joints, 2]
        height = torch.as_tensor(FOOT_CONTACT.heights(FOOT_JOINTS), dtype=ref_height.dtype)
        contact = torch.sigmoid((height - ref_height) / 0.01)
        foot_pin = pos.new_zeros(())
    vel = (feet[1:, :, :2] - feet[:-1, :, :2]) * targets.fps
    skating = (contact * (vel ** 2).sum(-1)).mean() if pos.shape[0] > 1 else pos.new_zeros(())
    penetration = (torch.relu(-pos[..., 2]) ** 2).mean()
    if targets.plan is None:
        plan = pos.new_zeros(())
    else:
        plan_feet = targets.plan[:, targets.foot_joints]
        plan = (((pos.mean(1) - targets.plan.mean(1)) ** 2).sum(-1).mean()
                + ((feet - plan_feet) ** 2).sum(-1).mean())
    smooth_ctrl = (((knots[2:] - 2 * knots[1:-1] + knots[:-2]) ** 2).mean() if knots.shape[0] > 2
                   else knots.new_zeros(()))
    acc = (pos[2:] - 2 * pos[1:-1] + pos[:-2]) * targets.fps ** 2
    smooth_pos = (acc ** 2).sum(-1).mean() if pos.shape[0] > 2 else pos.new_zeros(())
    return {"reproj": reproj, "kin_global": kin_global, "kin_relative": kin_relative, "offset": offset,
            "residual": residual, "skating": skating, "foot_pin": foot_pin, "penetration": penetration, "plan": plan,
            "smooth_ctrl": smooth_ctrl, "smooth_pos": smooth_pos}


def window_loss(pos: torch.Tensor, controls: torch.Tensor, residual: torch.Tensor | None, targets: WindowTargets,
                w: LossWeights) -> tuple[torch.Tensor, dict[str, float]]:
    """Weighted total loss and the unweighted terms as floats (for logging)."""
    terms = loss_terms(pos, controls, residual, targets, w)
    total = sum(getattr(w, k) * v for k, v in terms.items())
    return total, {k: float(v.detach()) for k, v in terms.items()}
