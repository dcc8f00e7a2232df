"""Human joint ranges: one table, read by the simulator's hinges and by the kinematic fit's limit term.

:data:`JOINT_RANGES` gives, per joint kind (the canonical joint name without its side), the range
``(lo, hi)`` in radians of the rotation about each axis x, y, z of the joint's parent-aligned frame
(the canonical rest T-pose's axes: x forward, y left, z up; right-handed, active), for the spine, the
head and the **left** limbs. The right side is their mirror image through the sagittal (x-z) plane,
which negates and swaps the x and z ranges (:func:`joint_range`). The root has no range (it is
free) and neither have the leaves (toes, wrists, head top: their rotation moves nothing).

Its two users read the same numbers in different coordinates, which agree for a rotation about one
axis and differ for a combined one:

- the simulated humanoid (:mod:`phymo.physics.body`): MuJoCo's limits on the joint's three hinges,
  whose angles are Euler angles in the joint's Euler order (``EULER_ORDER`` there), in degrees in the
  MJCF;
- the kinematic fit (:mod:`phymo.pose.kinematic_fit`): a soft quadratic penalty outside the box on
  the three components of the local rotation vector (:func:`joint_ranges`).

The numbers were the kinematic fit's; the simulator had its own, symmetric and looser in the legs and
trunk (hip +-70 deg about x, -150..60 about y; knee twist +-45 deg), tighter in the arms (elbow +-60 deg
about x). Measured when they became one table (docs/results.md): the fit with the simulator's numbers
was worse on the shipped real clip (MPJPE 100.6 -> 101.7 mm, global 117.4 -> 121.1 mm), and the
simulator with these was unchanged on the mocap evaluation (within 0.03 mm).
"""

from __future__ import annotations

import numpy as np

from .skeleton import CANONICAL, Skeleton

#: (lo, hi) radians about x, y, z per joint kind (spine, head and left limbs; the right side mirrors).
#: Flexion is about y for the spine, hips, knees and ankles (spine: + bends forward; hip: - lifts the
#: thigh forward; knee: + bends; ankle: + points the toes down); the arms stand out in the T-pose, so the
#: shoulder lowers the arm about x (-) and the elbow flexes about z (-). The hip abducts further than it
#: adducts (x: + takes the left thigh outward); the knee barely twists or bends sideways.
JOINT_RANGES: dict[str, tuple[tuple[float, float], tuple[float, float], tuple[float, float]]] = {
    "spine": ((-0.6, 0.6), (-0.6, 0.8), (-0.6, 0.6)),
    "chest": ((-0.6, 0.6), (-0.6, 0.8), (-0.6, 0.6)),
    "neck": ((-0.8, 0.8), (-0.8, 0.9), (-1.0, 1.0)),
    "head": ((-0.8, 0.8), (-0.8, 0.9), (-1.0, 1.0)),
    "hip": ((-0.6, 1.3), (-2.4, 0.6), (-1.0, 1.0)),
    "knee": ((-0.3, 0.3), (-0.1, 2.7), (-0.4, 0.4)),
    "ankle": ((-0.8, 0.8), (-1.0, 1.0), (-0.8, 0.8)),
    "collar": ((-0.5, 0.5), (-0.5, 0.5), (-0.6, 0.6)),
    "shoulder": ((-2.8, 2.8), (-2.8, 2.8), (-2.8, 2.8)),
    "elbow": ((-1.8, 1.8), (-2.8, 2.8), (-2.8, 2.8)),
}

_SIDES = ("left_", "right_")


def joint_kind(name: str) -> str:
    """The canonical joint name without its side (``"left_knee"`` -> ``"knee"``)."""
    return name.split("_", 1)[1] if name.startswith(_SIDES) else name


def joint_range(name: str) -> np.ndarray | None:
    """``(3, 2)`` lo/hi radians about x, y, z of the canonical joint ``name``; None for a joint without one.

    A right joint's range is its left twin's mirrored through the x-z plane: a rotation by ``(a, b, c)``
    about x, y, z mirrors to ``(-a, b, -c)``, so the x and z ranges flip sign and swap ends.
    """
    table = JOINT_RANGES.get(joint_kind(name))
    if table is None:
        return None
    lim = np.array(table, dtype=np.float64)
    if name.startswith("right_"):
        lim[[0, 2]] = -lim[[0, 2], ::-1]
    return lim


def joint_ranges(skeleton: Skeleton = CANONICAL) -> np.ndarray:
    """``(J, 3, 2)`` lo/hi radians per joint of ``skeleton`` and axis; ``-inf, inf`` for a joint without one."""
    out = np.tile(np.array([-np.inf, np.inf]), (skeleton.num_joints, 3, 1))
    for j, name in enumerate(skeleton.names):
        lim = joint_range(name)
        if lim is not None:
            out[j] = lim
    return out
