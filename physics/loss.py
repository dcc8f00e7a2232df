"""DiffPhy-style reconstruction loss of one window, in torch (float64)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from phymo.data import FOOT_CONTACT, FOOT_JOINTS, Camera


@dataclass(frozen=True)
class LossWeights:
    """Weights of the window loss terms (each term is a mean, so weights are comparable across windows).

    Attributes:
        reproj: confidence-weighted Geman-McClure 2D reprojection error (dimensionless, in [0, 1)).
        reproj_sigma_px: robust scale of the reprojection error, pixels.
        kin_global: squared distance to the kinematic 3D estimate, world frame, per m^2.
        kin_relative: the same after subtracting the root (pelvis) position, per m^2.
        torque: mean squared normalized joint controls (torque / limit).
        residual: mean squared normalized residual root force/torque (force / residual limit).
        skating: squared horizontal foot speed (m/s)^2 weighted by the reference's contact: its stance
            (``WindowTargets.foot_contact``) or else a soft test of its foot joints' heights against the
            contact heights of :data:`phymo.data.metrics.FOOT_CONTACT`. Taken from the reference, not the
            simulation, so that the optimizer cannot buy less skating by lifting a foot and the gradient is
            that of the loss (line searches rely on it).
        foot_pin: squared horizontal distance (m^2) of a foot joint from its pinned stance position, in the
            frames where the reference has it in contact (see ``WindowTargets.foot_pins``).
        penetration: squared depth (m^2) of any joint below the ground plane z = 0.
        smooth_ctrl: squared second difference of the control knots.
        smooth_pos: squared joint acceleration, (m/s^2)^2.
    """

    reproj: float = 10.0
    reproj_sigma_px: float = 20.0
    kin_global: float = 30.0
    kin_relative: float = 30.0
    torque: float = 1e-3
    residual: float = 1e-1
    skating: float = 1.0
    foot_pin: float = 100.0
    penetration: float = 1e4
    smooth_ctrl: float = 1e-2
    smooth_pos: float = 1e-5


@dataclass
class WindowTargets:
    """What a window's loss compares against (torch float64 tensors).

    Attributes:
        keypoints_2d: ``(F, J, 2)`` pixels (finite; missing ones have confidence 0).
        confidence: ``(F, J)`` in [0, 1].
        kinematic: ``(F, J, 3)`` kinematic joint positions, world, metres.
        camera: the pinhole camera.
        fps: frames per second.
        foot_joints: indices of the foot joints (ankles, toes, in :data:`phymo.data.FOOT_JOINTS` order).
        num_joint_ctrl: the first controls are joint torques, the rest residual root actuators.
        foot_pins: ``(F, len(foot_joints), 2)`` pinned horizontal stance positions, finite where
            ``foot_contact`` is 1; with them the skating term uses ``foot_contact``
            instead of a height test on the reference's feet.
        foot_contact: ``(F, len(foot_joints))`` 1 where the reference has the foot joint in stance, else 0.
    """

    keypoints_2d: torch.Tensor
    confidence: torch.Tensor
    kinematic: torch.Tensor
    camera: Camera
    fps: float
    foot_joints: list[int]
    num_joint_ctrl: int
    foot_pins: torch.Tensor | None = None
    foot_contact: torch.Tensor | None = None

    @classmethod
    def from_arrays(cls, keypoints_2d, confidence, kinematic, camera, fps, foot_joints, num_joint_ctrl,
                    foot_pins=None, foot_contact=None):
        t = lambda a: None if a is None else torch.as_tensor(np.asarray(a, dtype=np.float64))  # noqa: E731
        if foot_pins is not None:
            foot_pins = np.nan_to_num(np.asarray(foot_pins, dtype=np.float64)[..., :2])
        return cls(t(keypoints_2d), t(confidence), t(kinematic), camera, fps, list(foot_joints), num_joint_ctrl,
                   t(foot_pins), t(foot_contact))


def loss_terms(pos: torch.Tensor, knots: torch.Tensor, targets: WindowTargets,
               w: LossWeights) -> dict[str, torch.Tensor]:
    """Unweighted loss terms for simulated positions ``pos (F, J, 3)`` and control knots ``(K, nu)``."""
    uv = targets.camera.project(pos)
    r2 = ((uv - targets.keypoints_2d) ** 2).sum(-1) / w.reproj_sigma_px ** 2
    conf = targets.confidence
    reproj = (conf * r2 / (1.0 + r2)).sum() / conf.sum().clamp(min=1e-9)
    kin = targets.kinematic
    kin_global = ((pos - kin) ** 2).sum(-1).mean()
    kin_relative = (((pos - pos[:, :1]) - (kin - kin[:, :1])) ** 2).sum(-1).mean()
    nj = targets.num_joint_ctrl
    torque = (knots[:, :nj] ** 2).mean()
    residual = (knots[:, nj:] ** 2).mean() if knots.shape[1] > nj else knots.new_zeros(())
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
    smooth_ctrl = (((knots[2:] - 2 * knots[1:-1] + knots[:-2]) ** 2).mean() if knots.shape[0] > 2
                   else knots.new_zeros(()))
    acc = (pos[2:] - 2 * pos[1:-1] + pos[:-2]) * targets.fps ** 2
    smooth_pos = (acc ** 2).sum(-1).mean() if pos.shape[0] > 2 else pos.new_zeros(())
    return {"reproj": reproj, "kin_global": kin_global, "kin_relative": kin_relative, "torque": torque,
            "residual": residual, "skating": skating, "foot_pin": foot_pin, "penetration": penetration,
            "smooth_ctrl": smooth_ctrl, "smooth_pos": smooth_pos}


def window_loss(pos: torch.Tensor, knots: torch.Tensor, targets: WindowTargets,
                w: LossWeights = LossWeights()) -> tuple[torch.Tensor, dict[str, float]]:
    """Weighted total loss and the unweighted terms as floats (for logging)."""
    terms = loss_terms(pos, knots, targets, w)
    total = sum(getattr(w, k) * v for k, v in terms.items())
    return total, {k: float(v.detach()) for k, v in terms.items()}
