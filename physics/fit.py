"""The humanoid fitted to a person's motion: the feet's height above the sole taken from the motion itself."""

from __future__ import annotations

import dataclasses
import logging

import numpy as np

from phymo.data import Motion

from .body import MAX_FOOT_DROP, Body, build_body
from .config import BodyConfig, ServoConfig

#: frames of the motion at which the servo gains' effective inertias are taken (evenly spaced; the median)
GAIN_POSES = 16
#: the highest a toe joint stands above the sole, as a share of the body height (a standing person's is 1-2 %)
MAX_SOLE_CLEARANCE = 0.03

log = logging.getLogger(__name__)


def estimate_foot(kinematic: Motion, percentile: float = 10.0) -> tuple[float | None, float | None]:
    """``(sole_clearance, ankle_height)`` of a standing foot in a motion (metres, see :class:`BodyConfig`).

    The clearance is the lower toe's ``percentile`` height above z = 0, so that the simulated ground agrees
    with the estimate's, within [0, :data:`MAX_SOLE_CLEARANCE` x height]: an estimate floating higher than a
    foot is thick must not give the body stilts (physics lets it land instead). The ankle stands above the
    toe joint by the median of ``ankle z - toe z`` over the frames where that foot's toe is at its lowest
    fifth (both feet pooled), kept within the reach of the toe from the ankle. None where the motion has no
    finite foot: the body's defaults then apply.
    """
    sk = kinematic.skeleton
    p = kinematic.positions()
    toes = [sk.index(n) for n in ("left_toe", "right_toe")]
    z = p[:, toes, 2].min(axis=1)
    z = z[np.isfinite(z)]
    if not z.size:
        return None, None
    clearance = float(np.clip(np.percentile(z, percentile), 0.0, MAX_SOLE_CLEARANCE * sk.height()))
    drops = []
    for side in ("left", "right"):
        ankle, toe = p[:, sk.index(f"{side}_ankle"), 2], p[:, sk.index(f"{side}_toe"), 2]
        ok = np.isfinite(ankle) & np.isfinite(toe)
        if ok.any():
            low = ok & (toe <= np.percentile(toe[ok], 20))
            drops.append(ankle[low] - toe[low])
    if not drops:
        return clearance, None
    reach = float(np.hypot(*sk.offsets[sk.index("left_toe"), [0, 2]]))
    return clearance, clearance + float(np.clip(np.median(np.concatenate(drops)), 0.0, MAX_FOOT_DROP * reach))


def fitted_body(kinematic: Motion, config: BodyConfig | None = None, servo: ServoConfig | None = None,
                timestep: float = 1 / 120, fit_ankle: bool = False) -> Body:
    """The humanoid on ``kinematic``'s skeleton, with the sole clearance (and with ``fit_ankle`` the ankle
    height) fitted to the motion (:func:`estimate_foot`) where ``config`` leaves them None, its servo gains
    taken over the motion's poses, simulated at ``timestep`` seconds."""
    config, servo = config or BodyConfig(), servo or ServoConfig()
    clearance, ankle = estimate_foot(kinematic)
    fit = {k: v for k, v in (("sole_clearance", clearance), ("ankle_height", ankle if fit_ankle else None))
           if v is not None and getattr(config, k) is None}
    if fit:
        config = dataclasses.replace(config, **fit)
        log.info("feet fitted to the kinematic estimate: %s", ", ".join(f"{k} {v:.3f} m" for k, v in fit.items()))
    poses = None
    if np.all(np.isfinite(kinematic.rotations)) and np.all(np.isfinite(kinematic.root_translation)):
        frames = np.unique(np.linspace(0, kinematic.num_frames - 1, GAIN_POSES).round().astype(int))
        poses = Motion(kinematic.skeleton, kinematic.fps, kinematic.root_translation[frames],
                       kinematic.rotations[frames])
    return build_body(kinematic.skeleton, config, servo, timestep, poses)
