"""Implicit low-rank preconditioner ``B = I + sum_j beta_j u_j u_j^T`` (Optimus).

Stored as ``U`` ``(K, d)`` (unit rows) and ``beta`` ``(K,)``: a fixed-size FIFO of the ``K`` most
recent rank-one terms (empty slots have ``beta = 0``), so memory is ``O(K d)`` and the state keeps
its shape from step to step. Applying ``B`` costs ``O(K d)``.

Positive definiteness: every ``u_j`` has unit norm and every ``beta_j`` lies in
``(-(1 - margin) / K, beta_max]``. For any unit ``z``, ``z^T B z >= 1 - sum_j |min(beta_j, 0)| >= margin``,
so ``B`` stays symmetric positive definite whatever the network outputs. (The paper's
``B_{k+1} = B_k + u_k u_k^T``-style update is unbounded in ``k``; we keep a window of ``K`` terms to
bound memory, see MODEL_CARD.md.)
"""

from __future__ import annotations

import torch


def init(d: int, rank: int, like: torch.Tensor) -> dict[str, torch.Tensor]:
    """Identity preconditioner with ``rank`` empty slots, on ``like``'s device and dtype."""
    return {"U": like.new_zeros(rank, d), "beta": like.new_zeros(rank)}


def bound_beta(raw: torch.Tensor, rank: int, beta_max: float, margin: float = 0.1) -> torch.Tensor:
    """Map an unbounded scalar to ``(-(1 - margin)/rank, beta_max)``; ``raw = 0`` gives ``beta = 0``."""
    neg = (1.0 - margin) / rank
    return torch.where(raw > 0, beta_max * torch.tanh(raw), neg * torch.tanh(raw))


def push(pre: dict[str, torch.Tensor], u: torch.Tensor, beta: torch.Tensor) -> dict[str, torch.Tensor]:
    """Append the term ``beta * u u^T / |u|^2`` (``u`` shape ``(d,)``), dropping the oldest."""
    u = u / (u.norm() + 1e-12)
    return {"U": torch.cat([pre["U"][1:], u[None]], 0), "beta": torch.cat([pre["beta"][1:], beta.reshape(1)])}


def apply(pre: dict[str, torch.Tensor], s: torch.Tensor) -> torch.Tensor:
    """``B s`` for ``s`` of shape ``(d,)`` in ``O(K d)``."""
    return s + (pre["beta"] * (pre["U"] @ s)) @ pre["U"]


def dense(pre: dict[str, torch.Tensor]) -> torch.Tensor:
    """The explicit ``(d, d)`` matrix ``B`` (tests and small-``d`` diagnostics only)."""
    d = pre["U"].shape[1]
    eye = torch.eye(d, dtype=pre["U"].dtype, device=pre["U"].device)
    return eye + pre["U"].T @ (pre["beta"][:, None] * pre["U"])
