"""What the GPU backends' flash-attention forward keeps for the backward (no numba import: CuPy uses it too)."""

from __future__ import annotations

from typing import Any


class FlashState:
    """The log-sum-exp of every query row's scores, lse (batch * heads, L): one number per row, where the
    NumPy reference keeps the whole (L, S) probability matrix. The backward rebuilds p_ij = exp(s_ij - lse_i)."""

    def __init__(self, lse: Any) -> None:
        self.lse = lse

    def __repr__(self) -> str:
        return f"FlashState(lse of shape {tuple(self.lse.shape)})"
