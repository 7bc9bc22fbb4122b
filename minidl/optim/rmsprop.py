"""``RMSprop``: divide the gradient by a running root mean square of recent gradients (Hinton, 2012).

The update rule and an example are in the class docstring (shown by ``help`` and the API page)."""

from __future__ import annotations

from typing import Any

from minidl.optim.optimizer import Optimizer, ParamsT
from minidl.tensor import Tensor


class RMSprop(Optimizer):
    """``RMSprop(params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0, centered=False)``.

    PyTorch's rule (``a`` = alpha, ``mu`` = momentum):

        g    <- g + lambda p                     (weight decay as an L2 penalty)
        s    <- a s + (1 - a) g^2                (running mean of squares)
        gbar <- a gbar + (1 - a) g               (centered=True only)
        avg  <- sqrt(s - gbar^2) + eps           (centered)   or   sqrt(s) + eps
        b    <- mu b + g / avg;  p <- p - lr b   (momentum > 0)
        p    <- p - lr g / avg                   (otherwise)

    Note ``eps`` is added outside the square root, and ``s`` starts at zero with no bias correction:
    the first steps are large (about ``lr / sqrt(1 - a)``).

    >>> import minidl
    >>> w = minidl.tensor([1.0], requires_grad=True)
    >>> opt = RMSprop([w], lr=0.01, alpha=0.99)
    >>> (w * w).sum().backward(); opt.step()
    >>> round(w.item(), 4)  # 1 - 0.01 * 2 / sqrt(0.01 * 4)
    0.9
    """

    def __init__(self, params: ParamsT, lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8,
                 weight_decay: float = 0.0, momentum: float = 0.0, centered: bool = False, *,
                 maximize: bool = False) -> None:
        if lr < 0.0:
            raise ValueError(f"RMSprop: invalid learning rate {lr} (must be >= 0)")
        if eps < 0.0:
            raise ValueError(f"RMSprop: invalid epsilon {eps} (must be >= 0)")
        if momentum < 0.0:
            raise ValueError(f"RMSprop: invalid momentum {momentum} (must be >= 0)")
        if weight_decay < 0.0:
            raise ValueError(f"RMSprop: invalid weight_decay {weight_decay} (must be >= 0)")
        if alpha < 0.0:
            raise ValueError(f"RMSprop: invalid alpha {alpha} (must be >= 0)")
        defaults = dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay, momentum=momentum,
                        centered=centered, maximize=maximize)
        super().__init__(params, defaults)

    def _update(self, group: dict[str, Any], p: Tensor, grad: Any, state: dict[str, Any]) -> None:
        if not state:
            xp = p.backend.xp
            state["step"] = 0
            state["square_avg"] = xp.zeros_like(p.array)
            if group["momentum"] > 0:
                state["momentum_buffer"] = xp.zeros_like(p.array)
            if group["centered"]:
                state["grad_avg"] = xp.zeros_like(p.array)
        state["step"] += 1
        p.backend.rmsprop_update(p.array, grad, state["square_avg"], group["lr"], group["alpha"], group["eps"],
                                 group["weight_decay"], group["momentum"],
                                 grad_avg=state.get("grad_avg") if group["centered"] else None,
                                 momentum_buffer=state.get("momentum_buffer") if group["momentum"] > 0 else None,
                                 maximize=group["maximize"])
