"""Gradient checks against central finite differences (use float64 inputs).

``gradcheck(fn, inputs)`` compares the gradient autograd computes with

    (f(x + eps e_i) - f(x - eps e_i)) / (2 eps)

for every element i of every input (or, with ``directional=True``, along one random direction
per input: one pair of evaluations instead of 2 x size, for large inputs). A non-scalar output
is reduced as ``sum(out * w)`` with fixed random weights ``w``, which checks the whole Jacobian
against one random vector. ``gradgradcheck`` runs the same check on the gradient itself.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from minidl.autograd import enable_grad, grad, no_grad
from minidl.tensor import Tensor


class GradcheckError(AssertionError):
    """Analytic and numerical gradients disagree."""


def _as_tuple(x: Any) -> tuple[Tensor, ...]:
    return x if isinstance(x, tuple) else (x,)


def _weights(outputs: tuple[Tensor, ...], seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.uniform(0.5, 1.5, size=o.shape) for o in outputs]


def _scalar(outputs: tuple[Tensor, ...], weights: list[np.ndarray]) -> Tensor:
    total = None
    for o, w in zip(outputs, weights, strict=True):
        term = (o * Tensor(w, backend=o.backend, dtype=o.dtype)).sum()
        total = term if total is None else total + term
    assert total is not None
    return total


def _value(fn: Callable[..., Any], inputs: Sequence[Tensor], weights: list[np.ndarray]) -> float:
    with no_grad():
        outs = _as_tuple(fn(*inputs))
        return float(sum(float((o.backend.to_numpy(o.array) * w).sum()) for o, w in zip(outs, weights, strict=True)))


def gradcheck(
    fn: Callable[..., Any],
    inputs: Sequence[Tensor],
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    directional: bool = False,
    seed: int = 0,
) -> bool:
    """Raise GradcheckError unless autograd's gradient of ``fn`` at ``inputs`` matches finite
    differences. Only inputs with ``requires_grad=True`` are checked."""
    inputs = list(inputs)
    wrt = [x for x in inputs if isinstance(x, Tensor) and x.requires_grad]
    if not wrt:
        raise ValueError("gradcheck: no input requires grad")
    for x in wrt:
        if x.dtype != np.float64:
            raise ValueError(f"gradcheck: use float64 inputs (finite differences in float32 are noise), got {x.dtype}")
    outputs = _as_tuple(fn(*inputs))
    weights = _weights(outputs, seed)
    total = _scalar(outputs, weights)
    # an output that does not depend on the inputs (a linear op's gradient) has zero derivative
    analytic = grad(total, wrt, allow_unused=True) if total.requires_grad else [None] * len(wrt)
    rng = np.random.default_rng(seed + 1)
    for k, (x, g) in enumerate(zip(wrt, analytic, strict=True)):
        x.array = x.backend.xp.ascontiguousarray(x.array)  # so that reshape(-1) below is a view
        ga = np.zeros(x.shape) if g is None else x.backend.to_numpy(g.array)
        original = x.array.copy()
        if directional:
            v = rng.standard_normal(x.shape)
            v_dev = x.backend.asarray(v)
            x.array = original + eps * v_dev
            plus = _value(fn, inputs, weights)
            x.array = original - eps * v_dev
            minus = _value(fn, inputs, weights)
            x.array = original
            numeric, exact = (plus - minus) / (2 * eps), float((ga * v).sum())
            if not np.isclose(exact, numeric, rtol=rtol, atol=atol):
                raise GradcheckError(f"gradcheck: input {k} (shape {x.shape}): directional derivative "
                                     f"{exact:.8g} from autograd vs {numeric:.8g} from finite differences")
            continue
        gn = np.zeros(x.shape)
        flat = x.array.reshape(-1)  # a view: writing into it perturbs x in place
        for i in range(x.numel()):
            old = flat[i].item()
            flat[i] = old + eps
            plus = _value(fn, inputs, weights)
            flat[i] = old - eps
            minus = _value(fn, inputs, weights)
            flat[i] = old
            gn.reshape(-1)[i] = (plus - minus) / (2 * eps)
        x.array = original
        if not np.allclose(ga, gn, rtol=rtol, atol=atol):
            worst = int(np.argmax(np.abs(ga - gn)))
            raise GradcheckError(
                f"gradcheck: input {k} (shape {x.shape}): autograd and finite differences differ; worst at flat "
                f"index {worst}: {ga.reshape(-1)[worst]:.8g} vs {gn.reshape(-1)[worst]:.8g}\n"
                f"autograd:\n{ga}\nfinite differences:\n{gn}"
            )
    return True


def gradgradcheck(
    fn: Callable[..., Any],
    inputs: Sequence[Tensor],
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    directional: bool = False,
    seed: int = 0,
) -> bool:
    """Check second derivatives: gradcheck of x -> d(sum(fn(x) * w))/dx (built with create_graph)."""
    inputs = list(inputs)
    wrt_index = [i for i, x in enumerate(inputs) if isinstance(x, Tensor) and x.requires_grad]
    weights = _weights(_as_tuple(fn(*inputs)), seed)

    def first_derivative(*xs: Tensor) -> tuple[Tensor, ...]:
        with enable_grad():  # finite differences call this under no_grad; the gradient needs a graph
            outs = _as_tuple(fn(*xs))
            gs = grad(_scalar(outs, weights), [xs[i] for i in wrt_index], create_graph=True, allow_unused=True)
        return tuple(g if g is not None else xs[i] * 0.0 for g, i in zip(gs, wrt_index, strict=True))

    return gradcheck(first_derivative, inputs, eps=eps, atol=atol, rtol=rtol, directional=directional, seed=seed + 7)
