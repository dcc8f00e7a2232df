"""Quaternion and rotation math shared by numpy and torch code.

Quaternions are unit, **w-first** ``(w, x, y, z)``, and rotate column vectors actively
(``v' = q v q*``). Every function accepts either ``numpy.ndarray`` or ``torch.Tensor`` with
arbitrary leading batch dimensions and returns the same kind, so forward kinematics and losses
use one implementation in both worlds (torch stays differentiable). Heavier torch-only rotation
tools (Procrustes, rotation-vector maps used by the fitters) come from ``roma``, which stands in
for pytorch3d here (pytorch3d has no distribution in the package registry).

Euler angles follow the BVH convention: ``order="ZXY"`` means the intrinsic sequence
``R = Rz(a0) @ Rx(a1) @ Ry(a2)`` with angles in the order given; radians.
"""

from __future__ import annotations

import numpy as np


def _is_torch(x) -> bool:
    return type(x).__module__.startswith("torch")


def _stack(items, axis: int = -1):
    if _is_torch(items[0]):
        import torch

        return torch.stack(items, dim=axis)
    return np.stack(items, axis=axis)


def _cat(items, axis: int = -1):
    if _is_torch(items[0]):
        import torch

        return torch.cat(items, dim=axis)
    return np.concatenate(items, axis=axis)


def _sqrt(x):
    return x.sqrt() if _is_torch(x) else np.sqrt(x)


def _norm(x, keepdims=True):
    if _is_torch(x):
        return x.norm(dim=-1, keepdim=keepdims)
    return np.linalg.norm(x, axis=-1, keepdims=keepdims)


def _sin(x):
    return x.sin() if _is_torch(x) else np.sin(x)


def _cos(x):
    return x.cos() if _is_torch(x) else np.cos(x)


def _atan2(y, x):
    if _is_torch(y):
        import torch

        return torch.atan2(y, x)
    return np.arctan2(y, x)


def _clip(x, lo, hi):
    return x.clamp(lo, hi) if _is_torch(x) else np.clip(x, lo, hi)


def _where(c, a, b):
    if _is_torch(c):
        import torch

        return torch.where(c, a, b)
    return np.where(c, a, b)


def identity_quat(shape=(), like=None):
    """Identity quaternions of the given batch shape ``(*shape, 4)`` (numpy unless ``like`` is torch)."""
    q = np.zeros((*shape, 4))
    q[..., 0] = 1.0
    if like is not None and _is_torch(like):
        import torch

        return torch.as_tensor(q, dtype=like.dtype, device=like.device)
    return q


def quat_normalize(q):
    """Unit quaternions ``(..., 4)``; also flips to the ``w >= 0`` hemisphere."""
    q = q / _clip(_norm(q), 1e-12, None)
    return _where(q[..., :1] < 0, -q, q)


def quat_conj(q):
    """Conjugate (= inverse for unit quaternions), ``(..., 4)``."""
    return _stack([q[..., 0], -q[..., 1], -q[..., 2], -q[..., 3]])


def quat_mul(a, b):
    """Hamilton product ``a * b`` (apply ``b`` first, then ``a``), ``(..., 4)``."""
    aw, ax, ay, az = a[..., 0], a[..., 1], a[..., 2], a[..., 3]
    bw, bx, by, bz = b[..., 0], b[..., 1], b[..., 2], b[..., 3]
    return _stack(
        [
            aw * bw - ax * bx - ay * by - az * bz,
            aw * bx + ax * bw + ay * bz - az * by,
            aw * by - ax * bz + ay * bw + az * bx,
            aw * bz + ax * by - ay * bx + az * bw,
        ]
    )


def quat_rotate(q, v):
    """Rotate vectors ``v (..., 3)`` by unit quaternions ``q (..., 4)``."""
    w = q[..., :1]
    u = q[..., 1:]
    if _is_torch(u):
        import torch

        cross = torch.cross
        uv = cross(u.expand_as(v) if u.shape != v.shape else u, v, dim=-1)
        uuv = cross(u.expand_as(uv) if u.shape != uv.shape else u, uv, dim=-1)
    else:
        uv = np.cross(u, v)
        uuv = np.cross(u, uv)
    return v + 2.0 * (w * uv + uuv)


def quat_to_matrix(q):
    """Rotation matrices ``(..., 3, 3)`` from unit quaternions ``(..., 4)``."""
    w, x, y, z = q[..., 0], q[..., 1], q[..., 2], q[..., 3]
    rows = [
        _stack([1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)]),
        _stack([2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)]),
        _stack([2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)]),
    ]
    return _stack(rows, axis=-2)


def matrix_to_quat(m):
    """Unit quaternions ``(..., 4)``, w >= 0, from rotation matrices ``(..., 3, 3)``.

    Uses the numerically stable branch per element (largest of w, x, y, z).
    """
    m00, m01, m02 = m[..., 0, 0], m[..., 0, 1], m[..., 0, 2]
    m10, m11, m12 = m[..., 1, 0], m[..., 1, 1], m[..., 1, 2]
    m20, m21, m22 = m[..., 2, 0], m[..., 2, 1], m[..., 2, 2]
    tr = m00 + m11 + m22
    eps = 1e-12
    cand = [
        _stack([1 + tr, m21 - m12, m02 - m20, m10 - m01]),
        _stack([m21 - m12, 1 + m00 - m11 - m22, m01 + m10, m02 + m20]),
        _stack([m02 - m20, m01 + m10, 1 - m00 + m11 - m22, m12 + m21]),
        _stack([m10 - m01, m02 + m20, m12 + m21, 1 - m00 - m11 + m22]),
    ]
    diag = _stack([1 + tr, 1 + m00 - m11 - m22, 1 - m00 + m11 - m22, 1 - m00 - m11 + m22])
    if _is_torch(m):
        import torch

        best = diag.argmax(dim=-1)
        allc = torch.stack(cand, dim=-2)  # (..., 4, 4)
        q = torch.gather(allc, -2, best[..., None, None].expand(*best.shape, 1, 4)).squeeze(-2)
        scale = torch.gather(diag, -1, best[..., None]).clamp_min(eps).sqrt() * 2
    else:
        best = diag.argmax(axis=-1)
        allc = np.stack(cand, axis=-2)
        q = np.take_along_axis(allc, best[..., None, None], axis=-2)[..., 0, :]
        scale = np.sqrt(np.maximum(np.take_along_axis(diag, best[..., None], axis=-1), eps)) * 2
    return quat_normalize(q / scale)


def axis_angle_to_quat(rotvec):
    """Quaternions ``(..., 4)`` from rotation vectors ``(..., 3)`` (axis times angle, radians)."""
    angle = _norm(rotvec)
    half = 0.5 * angle
    small = angle < 1e-8
    # sin(x/2)/x with its Taylor expansion near zero keeps gradients finite.
    safe = _where(small, angle * 0 + 1.0, angle)
    k = _where(small, 0.5 - angle * angle / 48.0, _sin(half) / safe)
    return _cat([_cos(half), rotvec * k])


def quat_to_axis_angle(q):
    """Rotation vectors ``(..., 3)`` (radians) from unit quaternions ``(..., 4)``."""
    q = quat_normalize(q)
    s = _norm(q[..., 1:])
    angle = 2.0 * _atan2(s, q[..., :1])
    small = s < 1e-8
    safe = _where(small, s * 0 + 1.0, s)
    k = _where(small, 2.0 + s * 0, angle / safe)
    return q[..., 1:] * k


_AXES = {"X": np.array([1.0, 0.0, 0.0]), "Y": np.array([0.0, 1.0, 0.0]), "Z": np.array([0.0, 0.0, 1.0])}


def _check_order(order: str) -> str:
    order = order.upper()
    if len(order) != 3 or set(order) - set("XYZ"):
        raise ValueError(f"Euler order must be three of X, Y, Z (e.g. 'ZXY'), got {order!r}")
    return order


def euler_to_quat(angles, order: str = "ZXY"):
    """Quaternions ``(..., 4)`` from intrinsic Euler angles ``(..., 3)`` in radians (BVH convention)."""
    order = _check_order(order)
    q = None
    for i, axis in enumerate(order):
        a = angles[..., i : i + 1]
        ax = _AXES[axis]
        if _is_torch(angles):
            import torch

            ax = torch.as_tensor(ax, dtype=angles.dtype, device=angles.device)
        qi = axis_angle_to_quat(a * ax)
        q = qi if q is None else quat_mul(q, qi)
    return q


def quat_to_euler(q, order: str = "ZXY"):
    """Intrinsic Euler angles ``(..., 3)`` in radians for ``order`` (inverse of :func:`euler_to_quat`).

    Tait-Bryan orders only (three distinct axes, as BVH uses). At gimbal lock (middle angle ±90°) the
    split between the first and third angle is not unique; any returned pair reproduces the rotation.
    """
    order = _check_order(order)
    m = quat_to_matrix(q)
    i, j, k = ("XYZ".index(c) for c in order)
    if i == k:
        raise ValueError(f"proper Euler orders like {order!r} are not used by BVH; use three distinct axes")
    # Tait-Bryan: R = R_i(a) R_j(b) R_k(c); sign from the permutation parity.
    sign = 1.0 if (j - i) % 3 == 1 else -1.0
    b = _asin(_clip(sign * m[..., i, k], -1.0, 1.0))
    a = _atan2(-sign * m[..., j, k], m[..., k, k])
    c = _atan2(-sign * m[..., i, j], m[..., i, i])
    return _stack([a, b, c])


def _asin(x):
    return x.asin() if _is_torch(x) else np.arcsin(x)


def quat_slerp(a, b, t):
    """Spherical interpolation between unit quaternions ``a`` and ``b`` at fraction ``t`` (broadcast)."""
    dot = (a * b).sum(-1, keepdims=True) if not _is_torch(a) else (a * b).sum(-1, keepdim=True)
    b = _where(dot < 0, -b, b)
    dot = _clip(abs(dot), 0.0, 1.0)
    theta = _atan2(_sqrt(_clip(1 - dot * dot, 0.0, None)), dot)
    small = theta < 1e-6
    st = _where(small, theta * 0 + 1.0, _sin(theta))
    wa = _where(small, 1 - t + theta * 0, _sin((1 - t) * theta) / st)
    wb = _where(small, t + theta * 0, _sin(t * theta) / st)
    return quat_normalize(wa * a + wb * b)
