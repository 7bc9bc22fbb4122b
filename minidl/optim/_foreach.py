"""Multi-tensor (``foreach``) optimizer steps: one kernel call for all the parameters of a group.

The per-parameter loop of ``Optimizer.step`` calls the update kernel once per tensor. A transformer has many
small tensors (W4's GPT: 28, most of them LayerNorm weights and biases of 128 numbers), so the fixed cost of
each call (Python, argument checks, the JIT dispatcher: ~10 us) adds up to more than the arithmetic. PyTorch's
``foreach=True`` implementation (``torch/optim/adam.py``, ``_multi_tensor_adam``) groups the tensors by device
and dtype and updates each group with a few list-wide kernels; ``fused=True`` runs one kernel for all of them.
Here both run the backend kernel ``foreach_adam_update`` once per (backend, dtype, step) group, which the Numba
backend compiles into one loop over all the tensors; the NumPy reference calls ``adam_update`` per tensor, so
the results are those of the per-parameter loop, element for element (tests compare them, and torch.optim).
"""

from __future__ import annotations

from typing import Any

from minidl.tensor import Tensor


def adam_init_state(group: dict[str, Any], p: Tensor, state: dict[str, Any]) -> None:
    """Adam's state at its first step: step 0, zero first and second moments (and their running max)."""
    xp = p.backend.xp
    state["step"] = 0
    state["exp_avg"] = xp.zeros_like(p.array)
    state["exp_avg_sq"] = xp.zeros_like(p.array)
    if group["amsgrad"]:
        state["max_exp_avg_sq"] = xp.zeros_like(p.array)


def adam_step_foreach(optimizer: Any, group: dict[str, Any], decoupled: bool) -> None:
    """Adam/AdamW on every parameter of ``group`` that has a gradient, one kernel call per (backend, dtype,
    step, AMSGrad) bucket; ``optimizer.state`` is updated as the per-parameter loop would."""
    params = [p for p in group["params"] if p.grad is not None]
    for p in params:  # checked before any state changes
        if p.grad.shape != p.shape:
            raise ValueError(f"{type(optimizer).__name__}.step: a gradient has shape {p.grad.array.shape} but its "
                             f"parameter has shape {p.array.shape}")
    buckets: dict[tuple[Any, Any, int, bool], list[tuple[Tensor, Any, dict[str, Any]]]] = {}
    for p in params:
        grad = p.grad.array
        state = optimizer.state.setdefault(p, {})
        if not state:
            adam_init_state(group, p, state)
        state["step"] += 1
        amsgrad = group["amsgrad"] and "max_exp_avg_sq" in state  # as Adam._update: no running max, no AMSGrad
        buckets.setdefault((p.backend, p.array.dtype, state["step"], amsgrad), []).append((p, grad, state))
    beta1, beta2 = group["betas"]
    for (backend, _, step, amsgrad), items in buckets.items():
        backend.foreach_adam_update(
            [p.array for p, _, _ in items], [g for _, g, _ in items], [s["exp_avg"] for _, _, s in items],
            [s["exp_avg_sq"] for _, _, s in items], group["lr"], beta1, beta2, group["eps"], group["weight_decay"],
            step, decoupled, [s["max_exp_avg_sq"] for _, _, s in items] if amsgrad else None, group["maximize"])
