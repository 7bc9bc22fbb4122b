"""The one rule for fused ops (norms, attention, recurrent cells and sequences).

A fused op runs a whole formula as one kernel call. Its gradient follows Chainer's "backward is
another node":

* ``Op(Function)``: ``forward`` calls the forward kernel and keeps what the backward kernel needs with
  ``save_for_backward``; ``backward`` returns ``OpBackward(...)(grads..., inputs...)``.
* ``OpBackward(FusedBackward)``: ``forward`` calls the backward kernel (the fast path: with
  ``create_graph=False`` nothing is recorded and this is all that runs); ``composite`` is the op's
  definition written with minidl ops, the *reference* that tests compare the kernels against.
* Double backward (``create_graph=True``): ``OpBackward`` was recorded, and its own ``backward``
  differentiates the composite twice (``vjp`` of a ``vjp``). Nobody writes a second derivative by
  hand, and no op branches on the grad mode.

So every fused op is written twice and only twice: once as kernels, once as a composite of minidl ops.

>>> import minidl
>>> from minidl.ops.elementwise import tanh
>>> x = minidl.tensor([0.5], requires_grad=True)
>>> (gx,) = vjp(tanh, [x], [minidl.ones(1)])   # d tanh / dx = 1 - tanh(x)^2, as a graph
>>> round(float(gx), 4)
0.7864
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from minidl.autograd import Function, broadcast_to, enable_grad, grad, is_grad_enabled
from minidl.tensor import Tensor


def vjp(fn: Callable[..., Any], inputs: Sequence[Tensor], grads: Sequence[Tensor],
        wrt: Sequence[int] | None = None, create_graph: bool = True) -> tuple[Tensor | None, ...]:
    """Gradients of ``fn(*inputs)`` (output gradients ``grads``) w.r.t. ``inputs[i]`` for i in ``wrt``
    (default: every input), None for the others; recorded as a graph when ``create_graph``.

    An input in ``wrt`` that does not require grad is replaced by a leaf copy that does, so every gradient
    asked for exists (zeros where the input plays no part). Without ``create_graph`` every input in ``wrt``
    is: the walk then stays inside ``fn`` and leaves the caller's graph alone."""
    wrt = range(len(inputs)) if wrt is None else wrt
    args = list(inputs)
    for i in wrt:
        if not create_graph or not args[i].requires_grad:
            args[i] = args[i].detach().requires_grad_()
    with enable_grad():
        outs = fn(*args)
        outs = outs if isinstance(outs, tuple) else (outs,)
        used = [(o, g) for o, g in zip(outs, grads, strict=True) if o is not None and o.requires_grad]
        found = grad([o for o, _ in used], [args[i] for i in wrt], [g for _, g in used],
                     create_graph=create_graph, allow_unused=True) if used else [None] * len(wrt)
    result: list[Tensor | None] = [None] * len(inputs)
    for i, g in zip(wrt, found, strict=True):
        result[i] = g if g is not None else _zeros_like(inputs[i])
    return tuple(result)


def _zeros_like(x: Tensor) -> Tensor:
    return Tensor._wrap(x.backend.xp.zeros(x.shape, dtype=x.dtype), x.backend, False)


class FusedBackward(Function):
    """The backward of a fused op as a Function of its own: inputs (the op's output gradients, then the
    op's inputs), outputs the gradients of the op's inputs listed in ``wrt`` (indices into the op's inputs).

    Subclasses implement ``forward`` (the backward kernel) and ``composite`` (the op's forward as minidl
    ops). ``backward`` is shared: the second derivative of the composite."""

    n_grads: int = 1  # how many leading inputs are output gradients
    wrt: tuple[int, ...] = (0,)  # which of the op's inputs the outputs are gradients of

    def composite(self, *inputs: Tensor) -> Any:
        raise NotImplementedError

    def backward(self, *ggs):
        k, wrt = self.n_grads, self.wrt

        def first_order(*args: Tensor) -> tuple[Tensor | None, ...]:
            args = list(args)
            for j, i in enumerate(wrt):  # a kernel may return a gradient with a broadcast shape (attention's
                shape = self._output_meta[j][0]  # dL/dk for a broadcast k): differentiate w.r.t. that view
                if args[k + i].shape != shape:
                    args[k + i] = broadcast_to(args[k + i], shape)
            gxs = vjp(self.composite, args[k:], args[:k], wrt)
            return tuple(gxs[i] for i in wrt)

        needed = [i for i, x in enumerate(self.inputs) if x.requires_grad]
        return vjp(first_order, self.inputs, ggs, needed, create_graph=is_grad_enabled())
