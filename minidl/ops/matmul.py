"""Matrix products: ``matmul`` (the ``@`` operator) and ``einsum``.

For C = A @ B with A (..., n, k) and B (..., k, m):
    dL/dA = dL/dC @ B^T   (..., n, m) @ (..., m, k)
    dL/dB = A^T @ dL/dC   (..., k, n) @ (..., n, m)
Batch axes broadcast like numpy; the engine sums the gradient back over broadcast batch axes.
1-d operands are promoted to matrices and the added axis removed again, as numpy does.
"""

from __future__ import annotations

import math

from minidl.autograd import Function, is_autocast_enabled
from minidl.backends.base import accumulation_dtype
from minidl.dtypes import LOW_PRECISION
from minidl.errors import dtype_mismatch_error, shape_error
from minidl.ops.fused import FusedBackward
from minidl.ops.shape import squeeze, swapaxes, unsqueeze
from minidl.tensor import Tensor


class MatMul(Function):
    """C = A @ B for ndim >= 2 (see the module docstring for the gradient)."""
    autocast = "lower"  # under minidl.amp.autocast (see minidl/amp/autocast.py)

    def forward(self, a, b):
        if a.shape[-1] != b.shape[-2]:
            raise shape_error("matmul", a.shape, b.shape,
                              expected=f"a.shape[-1] == b.shape[-2] ({a.shape[-1]} != {b.shape[-2]})")
        try:
            return self.backend.matmul(a, b)
        except ValueError:
            raise shape_error("matmul", a.shape, b.shape, expected="batch dimensions that broadcast") from None

    def backward(self, gc):
        a, b = self.inputs
        ga = matmul(gc, swapaxes(b, -1, -2)) if a.requires_grad else None
        gb = matmul(swapaxes(a, -1, -2), gc) if b.requires_grad else None
        return ga, gb


def matmul(a: Tensor, b: Tensor) -> Tensor:
    """Matrix product with numpy semantics (batched, broadcasting, 1-d promotion)."""
    if not isinstance(a, Tensor):
        a = Tensor(a, backend=b.backend, dtype=b.dtype)
    if not isinstance(b, Tensor):
        b = Tensor(b, backend=a.backend, dtype=a.dtype)
    if a.ndim == 0 or b.ndim == 0:
        raise shape_error("matmul", a.shape, b.shape, expected="operands with at least one dimension")
    if a.dtype != b.dtype and not is_autocast_enabled():  # autocast casts both to one dtype
        raise dtype_mismatch_error("matmul", a=a, b=b)
    if a.ndim >= 2 and b.ndim >= 2:
        return MatMul()(a, b)
    a2 = unsqueeze(a, 0) if a.ndim == 1 else a
    b2 = unsqueeze(b, -1) if b.ndim == 1 else b
    c = MatMul()(a2, b2)
    if b.ndim == 1:
        c = squeeze(c, -1)
    if a.ndim == 1:
        c = squeeze(c, -2 if b.ndim > 1 else -1)
    return c


def mm(a: Tensor, b: Tensor) -> Tensor:
    """Matrix product of two 2-d tensors (``torch.mm``: no broadcasting, no batch)."""
    if a.ndim != 2 or b.ndim != 2:
        raise shape_error("mm", a.shape, b.shape, expected="two 2-d tensors (use matmul or bmm for batches)")
    return matmul(a, b)


def bmm(a: Tensor, b: Tensor) -> Tensor:
    """Batched matrix product: (B, n, m) @ (B, m, p) -> (B, n, p), no broadcasting (``torch.bmm``)."""
    if a.ndim != 3 or b.ndim != 3 or a.shape[0] != b.shape[0]:
        raise shape_error("bmm", a.shape, b.shape, expected="(B, n, m) and (B, m, p) with the same B")
    return matmul(a, b)


def dot(a: Tensor, b: Tensor) -> Tensor:
    """Inner product of two 1-d tensors of one length."""
    if a.ndim != 1 or b.ndim != 1 or a.shape != b.shape:
        raise shape_error("dot", a.shape, b.shape, expected="two 1-d tensors of the same length")
    return matmul(a, b)


class LinearFunction(Function):
    """y = x W^T + b for x (*, in), W (out, in) and b (out,) or no bias.

    dL/dx = dL/dy W,   dL/dW = dL/dy^T x,   dL/db = dL/dy summed over the N rows.

    One op instead of transpose + matmul + add: besides two fewer graph nodes, dL/dW is computed
    directly in W's own (out, in) layout. Through ``matmul(x, W.mT)`` it would arrive as the transpose
    of x^T dL/dy, a strided view that every fused optimizer kernel would first have to copy (30% of
    an MLP's training step on the numba backend).
    """
    autocast = "lower"  # under minidl.amp.autocast (see minidl/amp/autocast.py)

    def forward(self, x, w, b=None):
        # x (*, in): its leading axes folded into one on the array (no graph node), unfolded after
        y = self.backend.matmul(x.reshape(-1, x.shape[-1]), w.T)
        if b is not None:
            if b.dtype == y.dtype:
                y += b
            else:
                y = y + b
        return y.reshape(*x.shape[:-1], w.shape[0])

    def backward(self, gy):
        wrt = tuple(i for i, t in enumerate(self.inputs) if t.requires_grad)
        grads = LinearBackward(wrt)(gy, *self.inputs)
        grads = grads if isinstance(grads, tuple) else (grads,)
        out: list[Tensor | None] = [None] * len(self.inputs)
        for i, g in zip(wrt, grads, strict=True):
            out[i] = g
        return tuple(out)


class LinearBackward(FusedBackward):
    """(dL/dx, dL/dW, dL/db) of ``linear``, those in ``wrt``, as one node: two products and a sum on arrays
    (one graph node instead of five: two matmuls, a transpose, a sum and their wrappers, per layer and step).
    Its own gradient differentiates ``composite``, linear written with minidl ops (ops/fused.py)."""

    def __init__(self, wrt: tuple[int, ...]) -> None:
        self.wrt = wrt

    def forward(self, gy, x, w, b=None):
        backend, grads = self.backend, []
        gy = gy.reshape(-1, w.shape[0])  # the leading axes folded, as in the forward
        if 0 in self.wrt:
            grads.append(backend.matmul(gy, w).reshape(x.shape))
        if 1 in self.wrt:
            grads.append(backend.matmul(gy.T, x.reshape(-1, x.shape[-1])))
        if 2 in self.wrt:
            acc = accumulation_dtype(gy.dtype)
            grads.append(gy.sum(axis=0, dtype=acc).astype(gy.dtype, copy=False))
        return tuple(grads) if len(grads) > 1 else grads[0]

    def composite(self, x, w, b=None):
        y = matmul(x, swapaxes(w, 0, 1))
        return y if b is None else y + b


def linear(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """y = x W^T + b for x of shape (*, in_features), W (out_features, in_features), b (out_features,).

    Leading axes of x are folded into one inside the op, on the arrays (one 2-d matmul; dW needs no sum
    over a broadcast batch; no reshape nodes in the graph), and unfolded after.

    >>> import minidl
    >>> y = linear(minidl.ones(4, 3), minidl.ones(2, 3), minidl.tensor([0.0, 1.0]))
    >>> tuple(y.shape), y.tolist()[0]
    ((4, 2), [3.0, 4.0])
    """
    if weight.ndim != 2 or x.ndim == 0 or x.shape[-1] != weight.shape[1] \
            or (bias is not None and tuple(bias.shape) != (weight.shape[0],)):
        raise _linear_shape_error(x, weight, bias)
    if (x.dtype != weight.dtype or (bias is not None and bias.dtype != weight.dtype)) and not is_autocast_enabled():
        raise dtype_mismatch_error("linear", input=x, weight=weight, bias=bias)
    return LinearFunction()(x, weight) if bias is None else LinearFunction()(x, weight, bias)


def _linear_shape_error(x: Tensor, weight: Tensor, bias: Tensor | None) -> Exception:
    """What a new user reads after feeding images (N, 1, 28, 28) to ``nn.Linear(784, 10)``."""
    shapes = (x.shape, weight.shape) + (() if bias is None else (bias.shape,))
    expected = "x (*, in_features), weight (out_features, in_features) and bias (out_features,)"
    if weight.ndim == 2 and x.ndim > 0 and x.shape[-1] != weight.shape[1]:
        in_features = weight.shape[1]
        expected = (f"the input's last dimension to be in_features={in_features}, but it is {x.shape[-1]} "
                    f"(linear acts on the last dimension only)")
        if x.ndim > 2:
            features = math.prod(x.shape[1:])
            expected += (f"; to feed each sample's {features} values of shape {tuple(x.shape[1:])} as one vector, "
                         f"flatten them first with nn.Flatten() (or x.flatten(1))")
            if features != in_features:
                expected += f", and make the layer nn.Linear({features}, {weight.shape[0]})"
    return shape_error("linear", *shapes, expected=expected)


class Einsum(Function):
    """y = einsum(subscripts, *operands);  the gradient of operand i is the einsum of dL/dy with
    every other operand into operand i's subscripts (then broadcast over the letters that only
    operand i had, which were summed away)."""
    autocast = "lower"  # under minidl.amp.autocast (see minidl/amp/autocast.py)

    def __init__(self, inputs: list[str], output: str) -> None:
        self.in_subs, self.out_sub = inputs, output

    def forward(self, *xs):
        subscripts = ",".join(self.in_subs) + "->" + self.out_sub
        if xs[0].dtype in LOW_PRECISION:  # NumPy has no bfloat16 einsum: float32, rounded once (as matmul)
            return self.backend.xp.einsum(subscripts, *(x.astype("float32") for x in xs)).astype(xs[0].dtype)
        return self.backend.xp.einsum(subscripts, *xs)

    def backward(self, gy):
        grads = []
        for i, x in enumerate(self.inputs):
            if not x.requires_grad:
                grads.append(None)
                continue
            others = [t for j, t in enumerate(self.inputs) if j != i]
            other_subs = [s for j, s in enumerate(self.in_subs) if j != i]
            known = set(self.out_sub).union(*other_subs)
            target = "".join(c for c in self.in_subs[i] if c in known)
            g = einsum(",".join([self.out_sub, *other_subs]) + "->" + target, gy, *others)
            if target != self.in_subs[i]:  # letters only x had: broadcast the gradient over them
                shape = [x.shape[k] if c in known else 1 for k, c in enumerate(self.in_subs[i])]
                g = g.reshape(shape).broadcast_to(x.shape)
            grads.append(g)
        return tuple(grads)


def einsum(subscripts: str, *operands: Tensor) -> Tensor:
    """Einstein summation, e.g. ``einsum("bij,bjk->bik", a, b)``. Explicit ``->`` output, no
    ellipsis and no repeated letter within one operand (diagonals) in this version."""
    subscripts = subscripts.replace(" ", "")
    if "->" not in subscripts or "." in subscripts:
        raise ValueError(f"einsum: write explicit output subscripts without '...', got {subscripts!r}")
    lhs, out = subscripts.split("->")
    ins = lhs.split(",")
    if len(ins) != len(operands):
        raise ValueError(f"einsum: {len(ins)} operand subscripts but {len(operands)} operands")
    for s, t in zip(ins, operands, strict=True):
        if len(set(s)) != len(s):
            raise ValueError(f"einsum: repeated letter in {s!r} (diagonals) is not supported")
        if len(s) != t.ndim:
            raise shape_error("einsum", t.shape, expected=f"{len(s)} dimensions for subscripts {s!r}")
    return Einsum(ins, out)(*operands)

