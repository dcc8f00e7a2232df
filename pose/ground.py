"""The ground plane under a fitted body, in the camera frame: which way is up, and where the floor is.

Up is where the body's centre of mass sits above its support. A person who stands, balances or walks
keeps the centre of mass over the foot on the ground, on average over time; the trunk does not stay
vertical (a balancing person leans 20 degrees and more), and the camera is rarely level (a phone held
upright rolls by 10 degrees). So, per frame, the centre of mass (segment masses of :data:`SEGMENT_MASS`,
each at its bone's midpoint) minus the support point (the foot joints weighted by how near they are to
the lowest one along the current up: fully up to 0.75 :data:`SUPPORT_BAND_M` above it, falling linearly to 0
at 1.25 of it; a hard band made the fixed point jump by 11 degrees for a 0.01 px change of the keypoints, a
Gaussian weight put the synthetic walk's ground 5.8 degrees off) gives a direction; their mean is the new up,
iterated from the camera's -y to a fixed point. The feet then correct it where they travel (:func:`_feet_floor`): the
lowest foot points spread over the floor in both directions (a walk that turns) give the floor's
normal; spread along one line (a straight walk) they give a level direction, and up is turned to be
perpendicular to it (the balance estimate is weakest along the walking direction, where the centre of
mass passes over each stance foot); bunched together (standing, balancing) they say nothing. A
correction is kept in full when it agrees with the balance estimate within half of :data:`FEET_AGREEMENT_DEG`,
and less and less up to it (a hard limit made a 0.01 px change of the keypoints turn the world frame by 11
degrees, where the two estimates sat at the limit). The
ground sits at the median over frames of the lowest foot point (each foot joint's height less its height
above the sole in the rest pose, the lowest of the four): a person on their feet has one on the ground in
most frames, and a detector's feet jitter by centimetres, so a low percentile of all foot heights (used
before) put the floor under the jitter and left the body floating above it most of the time (the
kinematic estimate floated 70-80 mm on average on three of the real clips, docs/results.md).

A :class:`Ground` is that plane as the world frame the kinematic fit works in. The camera is static over
a clip, so a clip has one: estimated under the segment that saw the feet best and shared by the others
(:func:`phymo.pose.segments.place_segments`): an estimate under hidden legs can be far off (on a real
two-person clip, a ground on the wall; on the synthetic demo walk with the legs hidden for 16 frames, 8.5
degrees off the true up, where the shared one is 0.5 off). :func:`placement_problem` says when a body does
not stand on its ground.

Measured against the truth (docs/results.md), degrees between the estimated and the true up, before
(the trunk's mean direction refined by a plane through the lowest foot points) and after: the shared
Pose2Sim balancing trial's lab floor under the kinematic fit of cam01, 21.5 -> 3.6; the synthetic demo
walk's kinematic fit, 7.1 -> 2.8 over its first 3 s (a straight stretch), 0.2 -> 0.4 over 30 s on its circle.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from phymo.data import FOOT_JOINTS, Camera, Skeleton

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
_ITERATIONS, _CONVERGED_DEG = 50, 0.05
#: a foot is seen in a frame when its ankle or toe keypoint has at least this confidence (the detector's less
#: certain keypoints say little, as in :func:`phymo.pose.kinematic_fit.reprojection_error`)
FOOT_SEEN_CONFIDENCE = 0.5
#: a body stands on its ground when its trunk (pelvis to neck) leans from up by at most this, degrees, median
#: over frames: a balancing person leans 20 degrees and more, a bow is brief; a ground on the wall leans it by 90
MAX_TRUNK_TILT_DEG = 60.0
#: ... and its pelvis is this high above the ground, shares of the body's height, median over frames: 0.57
#: standing, about 0.25 sitting or squatting; a ground on the wall or a body at the wrong depth falls outside
PELVIS_HEIGHT_SHARE = (0.15, 0.85)


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
        near = np.clip(2.5 - 2.0 * (heights - heights.min(axis=1, keepdims=True)) / SUPPORT_BAND_M, 0.0, 1.0)
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
    trust = 0.0 if corrected is None else float(np.clip(2.0 - 2.0 * _angle_deg(corrected, up) / FEET_AGREEMENT_DEG,
                                                          0.0, 1.0))
    if trust > 0.0:  # fully up to half the limit, fading to none at it: no jump of the world frame at the limit
        up, method = trust * corrected + (1.0 - trust) * up, f"balance+{how}"
        up /= np.linalg.norm(up)
    rest = skel.rest_positions()[feet, 2]
    sole = (p_cam[:, feet] @ up - (rest - rest.min())).min(axis=1)  # lowest foot point per frame
    h = float(np.median(sole)) if len(p_cam) else 0.0
    return up, h, method


@dataclass(frozen=True, eq=False)
class Ground:
    """A ground plane as the world frame on it, in the camera frame (OpenCV axes, metres).

    World frame: Z up (the plane's normal), X along the camera's viewing direction projected on the ground,
    origin on the ground. Attributes: ``rotation (3, 3)`` camera -> world (its rows are the world's axes in
    camera coordinates), ``origin (3,)`` the world origin in camera coordinates, ``method`` how it was found.
    """

    rotation: np.ndarray
    origin: np.ndarray
    method: str

    @property
    def up(self) -> np.ndarray:
        """``(3,)`` unit normal, camera frame."""
        return self.rotation[2]

    @property
    def offset(self) -> float:
        """The ground is at ``up . x = offset``, metres."""
        return float(self.up @ self.origin)

    @classmethod
    def below(cls, point: np.ndarray, up: np.ndarray, offset: float, method: str) -> Ground:
        """The ground ``up . x = offset`` with the world origin below ``point (3,)`` (camera frame)."""
        x = np.array([0.0, 0.0, 1.0]) - up[2] * up
        if np.linalg.norm(x) < 1e-6:
            x = np.array([1.0, 0.0, 0.0]) - up[0] * up
        x /= np.linalg.norm(x)
        return cls(np.stack([x, np.cross(up, x), up]), point - (point @ up - offset) * up, method)

    @classmethod
    def of_camera(cls, camera: Camera, method: str) -> Ground:
        """The ground whose world frame a fitted ``camera``'s extrinsics (world -> camera) map from."""
        return cls(camera.R.T, camera.t, method)

    def to_dict(self) -> dict:
        """JSON-ready, for reports and cache keys."""
        return {"up": self.up.tolist(), "offset_m": self.offset, "rotation": self.rotation.tolist(),
                "origin": self.origin.tolist(), "method": self.method}


def feet_seen(confidence: np.ndarray, skel: Skeleton) -> np.ndarray:
    """``(T,)`` frames in which both feet are seen: each foot's ankle or toe confidence ``(T, J)`` (canonical
    order) at least :data:`FOOT_SEEN_CONFIDENCE`."""
    conf = np.asarray(confidence)
    return np.all([np.maximum(conf[:, skel.index(f"{side}_ankle")], conf[:, skel.index(f"{side}_toe")])
                   >= FOOT_SEEN_CONFIDENCE for side in ("left", "right")], axis=0)


def placement_problem(p_world: np.ndarray, skel: Skeleton) -> str | None:
    """Why joints ``p_world (T, J, 3)`` (world frame, Z up, ground at z = 0, metres) do not stand on the ground,
    or None when they do: the trunk's median tilt from up above :data:`MAX_TRUNK_TILT_DEG`, or the pelvis's
    median height outside :data:`PELVIS_HEIGHT_SHARE` of the body's height. A segment spent lying or crawling
    fails too; the balance estimate cannot place it either."""
    trunk = p_world[:, skel.index("neck")] - p_world[:, 0]
    tilt = float(np.median(np.degrees(np.arccos(np.clip(trunk[:, 2] / np.linalg.norm(trunk, axis=1), -1, 1)))))
    if tilt > MAX_TRUNK_TILT_DEG:
        return f"the trunk leans {tilt:.0f} degrees from the ground's up (at most {MAX_TRUNK_TILT_DEG:g})"
    share = float(np.median(p_world[:, 0, 2])) / skel.height()
    lo, hi = PELVIS_HEIGHT_SHARE
    if not lo <= share <= hi:
        return (f"the pelvis is {share:.2f} body heights above the ground (between {lo:g} and {hi:g} on a body "
                "that stands on it)")
    return None
