"""Rotations in phymo's convention, computed by roma (torch) and SciPy's ``Rotation`` (numpy).

phymo's quaternions are unit and **w-first** ``(w, x, y, z)`` and rotate column vectors actively
(``v' = q v q*``). roma and SciPy are both scalar-last ``(x, y, z, w)``: the functions here are the one
place that converts between the two layouts. Each takes and returns w-first quaternions with any leading
batch shape, as ``torch.Tensor`` (through roma, differentiable) or ``numpy.ndarray`` (through SciPy), the
same kind out as in.

Euler angles follow the BVH convention: ``order="ZXY"`` means the intrinsic sequence
``R = Rz(a0) @ Rx(a1) @ Ry(a2)`` with angles in the order given, radians (the upper-case, intrinsic,
convention of SciPy and roma).

phymo's own math, where both libraries stop: the ``w >= 0`` hemisphere of :func:`quat_normalize` and
:func:`matrix_to_quat` (roma keeps whichever sign it computes), and :func:`swing`.
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy.spatial.transform import Rotation


def _is_torch(x) -> bool:
    return type(x).__module__.startswith("torch")


def _rot(q) -> Rotation:
    """SciPy rotations of w-first quaternions ``(..., 4)``."""
    return Rotation.from_quat(q, scalar_first=True)


def _wxyz(r: Rotation) -> np.ndarray:
    return r.as_quat(scalar_first=True)


def _roma():
    import roma  # imported with the first torch input: phymo.data stays importable without loading torch

    return roma


def _hemisphere(q):
    """Torch ``q`` with ``w >= 0`` (the same rotation; SciPy's ``canonical=True`` is the numpy side's)."""
    import torch

    return torch.where(q[..., :1] < 0, -q, q)


def identity_quat(shape: tuple[int, ...] = ()) -> np.ndarray:
    """Identity quaternions ``(*shape, 4)``, numpy, w-first (SciPy's and roma's identities are scalar-last)."""
    q = np.zeros((*shape, 4))
    q[..., 0] = 1.0
    return q


def quat_normalize(q):
    """Unit quaternions ``(..., 4)`` in the ``w >= 0`` hemisphere (the form phymo stores)."""
    if _is_torch(q):
        return _hemisphere(_roma().quat_normalize(q))
    return _rot(q).as_quat(canonical=True, scalar_first=True)


def quat_conj(q):
    """Conjugate (= inverse for unit quaternions), ``(..., 4)``."""
    if _is_torch(q):
        r = _roma()
        return r.quat_xyzw_to_wxyz(r.quat_conjugation(r.quat_wxyz_to_xyzw(q)))
    return _wxyz(_rot(q).inv())


def quat_mul(a, b):
    """Hamilton product ``a * b`` (apply ``b`` first, then ``a``), ``(..., 4)``; batch shapes broadcast."""
    if _is_torch(a):
        import torch

        r = _roma()
        a, b = torch.broadcast_tensors(a, b)
        return r.quat_xyzw_to_wxyz(r.quat_product(r.quat_wxyz_to_xyzw(a), r.quat_wxyz_to_xyzw(b)))
    return _wxyz(_rot(a) * _rot(b))


def quat_rotate(q, v):
    """Rotate vectors ``v (..., 3)`` by unit quaternions ``q (..., 4)``; batch shapes broadcast."""
    if _is_torch(q):
        import torch

        r = _roma()
        shape = torch.broadcast_shapes(q.shape[:-1], v.shape[:-1])
        return r.quat_action(r.quat_wxyz_to_xyzw(q.expand(*shape, 4)), v.expand(*shape, 3), is_normalized=True)
    return _rot(q).apply(v)


def quat_to_matrix(q):
    """Rotation matrices ``(..., 3, 3)`` from unit quaternions ``(..., 4)``."""
    if _is_torch(q):
        r = _roma()
        return r.unitquat_to_rotmat(r.quat_wxyz_to_xyzw(q))
    return _rot(q).as_matrix()


def matrix_to_quat(m):
    """Unit quaternions ``(..., 4)``, ``w >= 0``, from rotation matrices ``(..., 3, 3)``."""
    if _is_torch(m):
        r = _roma()
        return _hemisphere(r.quat_xyzw_to_wxyz(r.rotmat_to_unitquat(m)))
    return Rotation.from_matrix(m).as_quat(canonical=True, scalar_first=True)


def axis_angle_to_quat(rotvec):
    """Quaternions ``(..., 4)`` from rotation vectors ``(..., 3)`` (axis times angle, radians).

    The torch path has finite gradients at the zero rotation (roma's sinc).
    """
    if _is_torch(rotvec):
        r = _roma()
        return r.quat_xyzw_to_wxyz(r.rotvec_to_unitquat(rotvec))
    return _wxyz(Rotation.from_rotvec(rotvec))


def quat_to_axis_angle(q):
    """Rotation vectors ``(..., 3)`` (radians, angle in ``[0, pi]``) from unit quaternions ``(..., 4)``."""
    if _is_torch(q):
        r = _roma()
        return r.unitquat_to_rotvec(r.quat_wxyz_to_xyzw(q))
    return _rot(q).as_rotvec()


def _check_order(order: str) -> str:
    order = order.upper()
    if len(order) != 3 or set(order) - set("XYZ") or len(set(order)) != 3:
        raise ValueError(f"Euler order must be three distinct axes of X, Y, Z as BVH uses (e.g. 'ZXY'), "
                         f"got {order!r}")
    return order


def euler_to_quat(angles, order: str = "ZXY"):
    """Quaternions ``(..., 4)`` from intrinsic Euler angles ``(..., 3)`` in radians (BVH convention)."""
    order = _check_order(order)
    if _is_torch(angles):
        r = _roma()
        return r.quat_xyzw_to_wxyz(r.euler_to_unitquat(order, angles))
    return _wxyz(Rotation.from_euler(order, angles))


def quat_to_euler(q, order: str = "ZXY"):
    """Intrinsic Euler angles ``(..., 3)`` in radians for ``order`` (inverse of :func:`euler_to_quat`).

    Tait-Bryan orders only (three distinct axes, as BVH uses); the first and last angle lie in
    ``[-pi, pi]``, the middle one in ``[-pi/2, pi/2]``. At gimbal lock (middle angle +-90 deg) the split
    between the first and third angle is not unique; the returned pair reproduces the rotation.
    """
    order = _check_order(order)
    if _is_torch(q):
        r = _roma()
        return r.unitquat_to_euler(order, r.quat_wxyz_to_xyzw(q))
    with warnings.catch_warnings():  # SciPy warns at gimbal lock; its angles still reproduce the rotation
        warnings.filterwarnings("ignore", "Gimbal lock detected")
        return _rot(q).as_euler(order)


def quat_slerp(a, b, t) -> np.ndarray:
    """Spherical interpolation from ``a`` to ``b`` (unit, ``(..., 4)``, numpy) at fraction ``t``.

    Pairwise, element by element, which SciPy's ``Slerp`` and roma's ``unitquat_slerp`` (one pair of key
    rotations or key sequence, evaluated at a set of times) are not; composed from SciPy's rotations as
    ``a * exp(t log(a^-1 b))``, along the shorter arc. ``t`` is a number or broadcasts against ``(..., 1)``.
    """
    ra = _rot(a)
    step = Rotation.from_rotvec(np.asarray(t) * (ra.inv() * _rot(b)).as_rotvec())
    return quat_normalize(_wxyz(ra * step))


def swing(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``(..., 4)`` the smallest rotations taking directions ``a`` onto ``b`` (``(..., 3)``, any length, numpy).

    Batched, which SciPy's ``align_vectors`` (one rotation for a set of pairs) is not. The rotation turns
    about ``a x b``; antiparallel directions turn by pi about an axis perpendicular to ``a``; a zero vector
    gives the identity.
    """
    a, b = _unit(a), _unit(b)
    dot = np.sum(a * b, axis=-1, keepdims=True)
    half = np.concatenate([1.0 + dot, np.cross(a, b)], axis=-1)  # (1 + cos t, sin t n) ~ (cos t/2, sin t/2 n)
    helper = np.where(np.abs(a[..., :1]) < 0.9, [1.0, 0.0, 0.0], [0.0, 1.0, 0.0])
    perp = np.cross(a, helper)
    flip = np.concatenate([np.zeros_like(dot), _unit(perp)], axis=-1)
    return quat_normalize(np.where(dot < -1.0 + 1e-9, flip, half))


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-12)
