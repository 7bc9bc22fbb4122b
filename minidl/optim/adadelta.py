"""``Adadelta``: an adaptive learning rate with units that match the parameter's (Zeiler, 2012).

The update rule and an example are in the class docstring (shown by ``help`` and the API page)."""

from __future__ import annotations

from typing import Any

from minidl.optim.optimizer import Optimizer, ParamsT
from minidl.tensor import Tensor


class Adadelta(Optimizer):
    """``Adadelta(params, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0, *, maximize=False)``.

    Adagrad's step shrinks forever, because it divides by the root of *all* past squared gradients.
    Adadelta keeps two running averages instead, of the squared gradients (``s``) and of the squared
    updates (``u``), and scales the gradient by their ratio: ``sqrt(u)`` has the units of the parameter
    and ``sqrt(s)`` those of the gradient, so the step has the right units with no hand-set step size
    (``lr`` is only a final multiplier, 1 by default). PyTorch's rule:

        g     <- -g                                    (maximize=True)
        g     <- g + lambda p                          (weight decay as an L2 penalty)
        s     <- rho s + (1 - rho) g^2
        delta <- sqrt(u + eps) / sqrt(s + eps) * g
        u     <- rho u + (1 - rho) delta^2
        p     <- p - lr delta

    Both averages start at zero, so the first steps are about ``sqrt(eps / (1 - rho))``: small, and
    growing as ``u`` fills up.

    >>> import minidl
    >>> w = minidl.tensor([1.0], requires_grad=True, dtype=minidl.float64)
    >>> opt = Adadelta([w], lr=1.0, rho=0.9, eps=1e-6)
    >>> (w * w).sum().backward(); opt.step()
    >>> round(1 - w.item(), 8)  # sqrt(1e-6) / sqrt(0.1 * 4 + 1e-6) * 2
    0.00316227

    State per parameter (PyTorch's names): ``step``, ``square_avg`` (``s``) and ``acc_delta`` (``u``).
    """

    def __init__(self, params: ParamsT, lr: float = 1.0, rho: float = 0.9, eps: float = 1e-6,
                 weight_decay: float = 0.0, foreach: bool | None = None, *, capturable: bool = False,
                 maximize: bool = False, differentiable: bool = False) -> None:
        # foreach / capturable / differentiable are PyTorch's implementation switches: accepted, no effect here
        if lr < 0.0:
            raise ValueError(f"Adadelta: invalid learning rate {lr} (must be >= 0)")
        if not 0.0 <= rho <= 1.0:
            raise ValueError(f"Adadelta: invalid rho {rho} (must be in [0, 1])")
        if eps < 0.0:
            raise ValueError(f"Adadelta: invalid epsilon {eps} (must be >= 0)")
        if weight_decay < 0.0:
            raise ValueError(f"Adadelta: invalid weight_decay {weight_decay} (must be >= 0)")
        defaults = dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay, maximize=maximize)
        super().__init__(params, defaults)

    def _update(self, group: dict[str, Any], p: Tensor, grad: Any, state: dict[str, Any]) -> None:
        xp = p.backend.xp
        if not state:
            state["step"] = 0
            state["square_avg"] = xp.zeros_like(p.array)
            state["acc_delta"] = xp.zeros_like(p.array)
        state["step"] += 1
        rho, eps, lr = group["rho"], group["eps"], group["lr"]
        s, u = state["square_avg"], state["acc_delta"]
        g = -grad if group["maximize"] else grad  # new arrays below: the gradient itself is never changed
        if group["weight_decay"] != 0:
            g = g + group["weight_decay"] * p.array
        s *= rho
        s += (1 - rho) * (g * g)
        delta = xp.sqrt(u + eps)
        delta /= xp.sqrt(s + eps)
        delta *= g
        u *= rho
        u += (1 - rho) * (delta * delta)
        p.array -= lr * delta
