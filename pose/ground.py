"""The ground plane under a fitted body, in the camera frame: which way is up, and where the floor is.

Up is where the body's centre of mass sits above its support. A person who stands, balances or walks
keeps the centre of mass over the foot on the ground, on average over time; the trunk does not stay
vertical (a balancing person leans 20 degrees and more), and the camera is rarely level (a phone held
upright rolls by 10 degrees). So, per frame, the centre of mass (segment masses of :data:`SEGMENT_MASS`,
each at its bone's midpoint) minus the support point (the foot joints within :data:`SUPPORT_BAND_M`
of the lowest one along the current up) gives a direction; their mean is the new up, iterated from the
camera's -y to a fixed point. The feet then correct it where they travel (:func:`_feet_floor`): the
lowest foot points spread over the floor in both directions (a walk that turns) give the floor's
normal; spread along one line (a straight walk) they give a level direction, and up is turned to be
perpendicular to it (the balance estimate is weakest along the walking direction, where the centre of
mass passes over each stance foot); bunched together (standing, balancing) they say nothing. A
correction is kept when it agrees with the balance estimate within :data:`FEET_AGREEMENT_DEG`. The
ground sits at the median over frames of the lowest foot point (each foot joint's height less its height
above the sole in the rest pose, the lowest of the four): a person on their feet has one on the ground in
most frames, and a detector's feet jitter by centimetres, so a low percentile of all foot heights (used
before) put the floor under the jitter and left the body floating above it most of the time (the
kinematic estimate floated 70-80 mm on average on three of the real clips, docs/results.md).

Measured against the truth (docs/results.md), degrees between the estimated and the true up, before
(the trunk's mean direction refined by a plane through the lowest foot points) and after: the shared
Pose2Sim balancing trial's lab floor under the kinematic fit of cam01, 21.5 -> 3.6; the synthetic demo
walk's kinematic fit, 7.1 -> 2.8 over its first 3 s (a straight stretch), 0.2 -> 0.4 over 30 s on its circle.
"""

from __future__ import annotations

import numpy as np

from phymo.data import FOOT_JOINTS, Skeleton

#: (joint, child, share of body mass) per segment, its mass at the bone's midpoint (after Winter's tables,
#: the trunk split along pelvis-spine-chest-neck, hands with the forearms)
SEGMENT_MASS = (("pelvis", "spine", 0.12), ("spine", "chest", 0.17), ("chest", "neck", 0.21),
                ("neck", "head_top", 0.08),
                *((f"{side}_{a}", f"{side}_{b}", m) for side in ("left", "right") for a, b, m in (
                    ("hip", "knee", 0.10), ("knee", "ankle", 0.0465), ("ankle", "toe", 0.0145),
                    ("shoulder", "elbow", 0.028), ("elbow", "wrist", 0.022))))
#: foot joints this close to the lowest one (along up) share the support, metres
SUPPORT_BAND_M = 0.05
#: the lowest foot points must spread this far (standard deviation, m) along a floor direction to measure it
FEET_SPREAD_M = 0.3
#: the feet's correction is kept only when it turns the centre-of-mass estimate by less than this, degrees
FEET_AGREEMENT_DEG = 10.0
_ITERATIONS, _CONVERGED_DEG = 20, 0.05


def centre_of_mass(p: np.ndarray, skel: Skeleton) -> np.ndarray:
    """``(T, 3)`` centre of mass of joint positions ``p (T, J, 3)`` by :data:`SEGMENT_MASS`."""
    total = sum(m for *_, m in SEGMENT_MASS)
    return sum(m * 0.5 * (p[:, skel.index(a)] + p[:, skel.index(b)]) for a, b, m in SEGMENT_MASS) / total


def _angle_deg(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.degrees(np.arccos(np.clip(a @ b, -1.0, 1.0))))


def _balance_up(p: np.ndarray, feet: list[int], com: np.ndarray) -> np.ndarray:
    up = np.array([0.0, -1.0, 0.0])
    for _ in range(_ITERATIONS):
        heights = p[:, feet] @ up
        near = heights <= heights.min(axis=1, keepdims=True) + SUPPORT_BAND_M
        support = (p[:, feet] * near[..., None]).sum(axis=1) / near.sum(axis=1, keepdims=True)
        d = com - support
        new = (d / np.linalg.norm(d, axis=1, keepdims=True)).mean(axis=0)
        new /= np.linalg.norm(new)
        done = _angle_deg(new, up) < _CONVERGED_DEG
        up = new
        if done:
            break
    return up


def _feet_floor(p: np.ndarray, feet: list[int], up: np.ndarray) -> tuple[np.ndarray | None, str]:
    """``up`` corrected by the lowest foot points (lower 40 % over the frames), and how.

    Spread over the floor in both directions they give the floor's normal (``"feet_plane"``); along one
    line (a straight walk) they give a level direction, and ``up`` is turned to be perpendicular to it
    (``"feet_line"``); bunched (standing, balancing) they say nothing (None).
    """
    heights = p[:, feet] @ up
    low = p[np.arange(len(p)), np.array(feet)[heights.argmin(axis=1)]]
    low = low[(low @ up) <= np.percentile(low @ up, 40)]
    if len(low) < 5:
        return None, ""
    centred = low - low.mean(axis=0)
    floor = centred - np.outer(centred @ up, up)
    spread = np.linalg.svd(floor, compute_uv=False) / np.sqrt(len(floor))
    axes = np.linalg.svd(centred)[2]
    if spread[1] >= FEET_SPREAD_M:
        return axes[2] * np.sign(axes[2] @ up), "feet_plane"
    if spread[0] >= FEET_SPREAD_M:
        level = up - (up @ axes[0]) * axes[0]
        return level / np.linalg.norm(level), "feet_line"
    return None, ""


def estimate_ground(p_cam: np.ndarray, skel: Skeleton) -> tuple[np.ndarray, float, str]:
    """Ground plane under joint positions ``p_cam (T, J, 3)``, camera frame, metres.

    Returns the unit ``up`` normal, the offset ``h`` with the ground at ``up . x = h``, and the method
    (``"balance"``, ``"balance+feet_plane"`` or ``"balance+feet_line"``).
    """
    feet = [skel.index(n) for n in FOOT_JOINTS]
    up, method = _balance_up(p_cam, feet, centre_of_mass(p_cam, skel)), "balance"
    corrected, how = _feet_floor(p_cam, feet, up)
    if corrected is not None and _angle_deg(corrected, up) < FEET_AGREEMENT_DEG:
        up, method = corrected, f"balance+{how}"
    rest = skel.rest_positions()[feet, 2]
    sole = (p_cam[:, feet] @ up - (rest - rest.min())).min(axis=1)  # lowest foot point per frame
    h = float(np.median(sole)) if len(p_cam) else 0.0
    return up, h, method
