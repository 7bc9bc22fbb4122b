"""Pooling: max, average and adaptive average pooling in 1-d and 2-d (NCHW, PyTorch semantics).

A pooling window of size (kh, kw), its taps d apart (``dilation``, max pooling only), slides with stride s
over x padded by p; the output size is OH = floor((H + 2p - d(kh - 1) - 1) / s) + 1, or with ``ceil_mode``
the ceiling, keeping a last window that hangs over the bottom edge if it starts inside the input or the left
padding (PyTorch's rule); such a window only sees the rows that exist.

* max:   y = max of the window (padding counts as -inf, so it never wins);
         dL/dx = dL/dy sent to the position of the maximum (``indices``: the flat index ``h*W + w`` in
         the (H, W) plane, as PyTorch's ``return_indices``); overlapping windows add up.
* avg:   y = sum of the window / divisor, the divisor being ``kh*kw`` (``count_include_pad=True``,
         the default; a ceil_mode window counts only up to the padded edge) or the number of
         non-padding elements;  dL/dx = dL/dy / divisor spread back
         over the window.
* adaptive avg: output cell i averages input rows ``floor(i*H/OH) .. ceil((i+1)*H/OH) - 1`` (PyTorch's
         formula); the averaging is linear, y = A_h @ x @ A_w^T with small averaging matrices.

Both backward passes are linear maps of dL/dy; their own gradients are the forward pass again
(avg pool) or a gather at the saved indices (max pool), so double backward works.

>>> import minidl
>>> x = minidl.tensor([[[[1.0, 2.0], [3.0, 4.0]]]])
>>> max_pool2d(x, 2).item(), avg_pool2d(x, 2).item()
(4.0, 2.5)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from minidl.autograd import Function
from minidl.backends.numpy_backend import pool_out_size
from minidl.errors import shape_error
from minidl.ops.conv import Pair, pair
from minidl.ops.index import take_along_axis
from minidl.ops.matmul import matmul
from minidl.tensor import Tensor


class MaxPool2dFunction(Function):
    """y = window maxima of x;  dL/dx = dL/dy scattered to the argmax positions (MaxPool2dBackward)."""

    def __init__(self, kernel_size: Pair, stride: Pair, padding: Pair, dilation: Pair = (1, 1),
                 ceil_mode: bool = False) -> None:
        self.args, self.ceil_mode = (kernel_size, stride, padding, dilation), ceil_mode

    def forward(self, x):
        self.x_shape = x.shape
        y, indices = self.backend.maxpool2d_forward(x, *self.args, self.ceil_mode)
        self.save_for_backward(indices)  # where each maximum came from (also return_indices' result)
        return y

    def backward(self, gy):
        (indices,) = self.saved_tensors
        return MaxPool2dBackward(self.x_shape, indices, self.args)(gy)


class MaxPool2dBackward(Function):
    """gx = zeros(x_shape) with gy added at ``indices``;  its gradient is a gather at ``indices``."""

    def __init__(self, x_shape: tuple[int, ...], indices: Any, args: tuple[Pair, Pair, Pair, Pair]) -> None:
        self.x_shape, self.indices, self.args = x_shape, indices, args

    def forward(self, gy):
        return self.backend.maxpool2d_backward(gy, self.indices, self.x_shape, *self.args)

    def backward(self, g):
        N, C, H, W = self.x_shape
        picked = take_along_axis(g.reshape(N, C, H * W), self.indices.reshape(N, C, -1), axis=2)
        return picked.reshape(self.indices.shape)


class AvgPool2dFunction(Function):
    """y = window sums / divisor;  dL/dx = AvgPool2dBackward(dL/dy), its adjoint."""

    def __init__(self, kernel_size: Pair, stride: Pair, padding: Pair, count_include_pad: bool,
                 ceil_mode: bool = False) -> None:
        self.args = (kernel_size, stride, padding, count_include_pad, ceil_mode)

    def forward(self, x):
        self.x_shape = x.shape
        return self.backend.avgpool2d_forward(x, *self.args)

    def backward(self, gy):
        return AvgPool2dBackward(self.x_shape, self.args)(gy)


class AvgPool2dBackward(Function):
    """gx = gy / divisor spread over each window;  linear, and its adjoint is AvgPool2dFunction."""

    def __init__(self, x_shape: tuple[int, ...], args: tuple[Any, ...]) -> None:
        self.x_shape, self.args = x_shape, args

    def forward(self, gy):  # the kernel reads ceil_mode off gy's shape
        return self.backend.avgpool2d_backward(gy, self.x_shape, *self.args[:4])

    def backward(self, g):
        return AvgPool2dFunction(*self.args)(g)


# --------------------------------------------------------------------------- functional API
def _pool_args(op: str, x: Tensor, ndim: int, kernel_size: Any, stride: Any, padding: Any, dilation: Any = 1,
               ceil_mode: bool = False) -> tuple[Pair, Pair, Pair, Pair]:
    """Normalise kernel/stride/padding/dilation to pairs (1-d ops pass (1, k)) and check them like PyTorch."""
    if x.ndim != 4:
        raise shape_error(op, x.shape, expected="a 4-d input (N, C, H, W)" if ndim == 2 else "a 3-d input (N, C, L)")
    if ndim == 1:
        kernel_size, padding, dilation = (1, _one(kernel_size)), (0, _one(padding)), (1, _one(dilation))
        stride = (1, _one(kernel_size[1] if stride is None or stride == () or stride == [] else stride))
    kernel = pair(kernel_size, op, "kernel_size")
    stride = kernel if stride is None or stride == () or stride == [] else pair(stride, op, "stride")
    padding, dilation = pair(padding, op, "padding"), pair(dilation, op, "dilation")
    if min(kernel) < 1 or min(stride) < 1 or min(dilation) < 1:
        raise ValueError(f"{op}: kernel_size {kernel}, stride {stride} and dilation {dilation} must be positive")
    if any(2 * p > k for p, k in zip(padding, kernel)):
        raise ValueError(f"{op}: padding {padding} must be at most half of kernel_size {kernel}")
    for n, k, s, p, d in zip(x.shape[2:], kernel, stride, padding, dilation):
        if pool_out_size(n, k, s, p, d, ceil_mode) < 1:
            raise shape_error(op, x.shape, expected=f"a padded input ({n} + 2*{p}) at least as large as the "
                                                    f"kernel {kernel} (dilation {dilation}): the output size is "
                                                    f"too small")
    return kernel, stride, padding, dilation


def _one(v: Any) -> int:
    """A 1-d pooling argument may be an int or a 1-tuple."""
    return v[0] if isinstance(v, tuple | list) and len(v) == 1 else v


def max_pool2d(x: Tensor, kernel_size: int | Pair, stride: int | Pair | None = None, padding: int | Pair = 0,
               dilation: int | Pair = 1, ceil_mode: bool = False, return_indices: bool = False) -> Any:
    """2-d max pooling of x (N, C, H, W); ``stride`` defaults to ``kernel_size``. A window's rows and columns
    are ``dilation`` apart; ``ceil_mode`` keeps a last window that hangs over the bottom or right edge (if it
    starts inside the input or the left padding). With ``return_indices=True`` also returns the int64 flat
    index ``h*W + w`` of every maximum."""
    fn = MaxPool2dFunction(*_pool_args("max_pool2d", x, 2, kernel_size, stride, padding, dilation, ceil_mode),
                   bool(ceil_mode))
    y = fn(x)
    return (y, Tensor._wrap(fn.saved_tensors[0], x.backend, False)) if return_indices else y


def max_pool1d(x: Tensor, kernel_size: int, stride: int | None = None, padding: int = 0, dilation: int = 1,
               ceil_mode: bool = False, return_indices: bool = False) -> Any:
    """1-d max pooling of x (N, C, L): max_pool2d on (N, C, 1, L)."""
    x4 = _unsqueeze_1d("max_pool1d", x)
    fn = MaxPool2dFunction(*_pool_args("max_pool1d", x4, 1, kernel_size, stride, padding, dilation, ceil_mode),
                   bool(ceil_mode))
    y = fn(x4).squeeze(2)
    return (y, Tensor._wrap(fn.saved_tensors[0][:, :, 0], x.backend, False)) if return_indices else y


def avg_pool2d(x: Tensor, kernel_size: int | Pair, stride: int | Pair | None = None, padding: int | Pair = 0,
               ceil_mode: bool = False, count_include_pad: bool = True, divisor_override: int | None = None) -> Tensor:
    """2-d average pooling of x (N, C, H, W); ``stride`` defaults to ``kernel_size``. As PyTorch, the divisor
    of a ``ceil_mode`` window that hangs over the edge counts only up to the padded edge."""
    kernel, stride, padding, _ = _pool_args("avg_pool2d", x, 2, kernel_size, stride, padding, 1, ceil_mode)
    if divisor_override is None:
        return AvgPool2dFunction(kernel, stride, padding, bool(count_include_pad), bool(ceil_mode))(x)
    if divisor_override == 0:
        raise ValueError("avg_pool2d: divisor_override must not be zero")
    # the window sums (padding adds zeros) = the count_include_pad means times their divisors, then / override
    y = AvgPool2dFunction(kernel, stride, padding, True, bool(ceil_mode))(x)
    return y * (_window_sizes(x, y.shape, kernel, stride, padding) / divisor_override)


def avg_pool1d(x: Tensor, kernel_size: int, stride: int | None = None, padding: int = 0, ceil_mode: bool = False,
               count_include_pad: bool = True) -> Tensor:
    """1-d average pooling of x (N, C, L): avg_pool2d on (N, C, 1, L)."""
    x4 = _unsqueeze_1d("avg_pool1d", x)
    kernel, stride, padding, _ = _pool_args("avg_pool1d", x4, 1, kernel_size, stride, padding, 1, ceil_mode)
    return AvgPool2dFunction(kernel, stride, padding, bool(count_include_pad), bool(ceil_mode))(x4).squeeze(2)


def _window_sizes(x: Tensor, y_shape: tuple[int, ...], kernel: Pair, stride: Pair, padding: Pair) -> Tensor:
    """(OH, OW) constant: each window's size clipped at the padded edge (``kh*kw`` but for ceil_mode's last ones)."""
    sizes = []
    for n, out, k, s, p in zip(x.shape[2:], y_shape[2:], kernel, stride, padding):
        start = np.arange(out) * s - p
        sizes.append(np.minimum(start + k, n + p) - start)
    return Tensor._wrap(x.backend.asarray(np.outer(*sizes), dtype=x.dtype), x.backend, False)


def _unsqueeze_1d(op: str, x: Tensor) -> Tensor:
    if x.ndim != 3:
        raise shape_error(op, x.shape, expected="a 3-d input (N, C, L)")
    return x.unsqueeze(2)


def _averaging_matrix(n_in: int, n_out: int, x: Tensor) -> Tensor:
    """A (n_out, n_in) matrix whose row i averages inputs ``floor(i*n_in/n_out) .. ceil((i+1)*n_in/n_out) - 1``."""
    a = np.zeros((n_out, n_in))
    for i in range(n_out):  # a loop over output positions of one axis (small), building a constant
        start, end = (i * n_in) // n_out, -((-(i + 1) * n_in) // n_out)
        a[i, start:end] = 1.0 / (end - start)
    return Tensor._wrap(x.backend.asarray(a, dtype=x.dtype), x.backend, False)


def _adaptive_sizes(op: str, x: Tensor, output_size: Any, n: int) -> list[int]:
    sizes = list(output_size) if isinstance(output_size, tuple | list) else [output_size] * n
    if len(sizes) != n:
        raise ValueError(f"{op}: output_size must be an int or {n} ints, got {output_size!r}")
    sizes = [x.shape[x.ndim - n + i] if s is None else s for i, s in enumerate(sizes)]  # None keeps that size
    if any(not isinstance(s, int) or s < 1 for s in sizes):
        raise ValueError(f"{op}: output_size must be positive, got {output_size!r}")
    return sizes


def adaptive_avg_pool2d(x: Tensor, output_size: int | tuple[int | None, int | None]) -> Tensor:
    """Average pooling of x (N, C, H, W) to a fixed (OH, OW), like ``torch.nn.functional.adaptive_avg_pool2d``."""
    if x.ndim != 4:
        raise shape_error("adaptive_avg_pool2d", x.shape, expected="a 4-d input (N, C, H, W)")
    (H, W), (OH, OW) = x.shape[2:], _adaptive_sizes("adaptive_avg_pool2d", x, output_size, 2)
    if H % OH == 0 and W % OW == 0:  # equal windows: a plain average pool, one kernel call
        return AvgPool2dFunction((H // OH, W // OW), (H // OH, W // OW), (0, 0), True)(x)
    return matmul(matmul(_averaging_matrix(H, OH, x), x), _averaging_matrix(W, OW, x).mT)


def adaptive_avg_pool1d(x: Tensor, output_size: int) -> Tensor:
    """Average pooling of x (N, C, L) to a fixed length."""
    if x.ndim != 3:
        raise shape_error("adaptive_avg_pool1d", x.shape, expected="a 3-d input (N, C, L)")
    (L,), (OL,) = x.shape[2:], _adaptive_sizes("adaptive_avg_pool1d", x, output_size, 1)
    return matmul(x, _averaging_matrix(L, OL, x).mT)
