"""Pooling: max, average and adaptive average pooling in 1-d and 2-d (NCHW, PyTorch semantics).

A pooling window of size (kh, kw) slides with stride s over x padded by p; the output size is
OH = (H + 2p - kh) // s + 1 (PyTorch's default ``ceil_mode=False``).

* max:   y = max of the window (padding counts as -inf, so it never wins);
         dL/dx = dL/dy sent to the position of the maximum (``indices``: the flat index h*W + w in
         the (H, W) plane, as PyTorch's ``return_indices``); overlapping windows add up.
* avg:   y = sum of the window / divisor, the divisor being kh*kw (``count_include_pad=True``,
         the default) or the number of non-padding elements;  dL/dx = dL/dy / divisor spread back
         over the window.
* adaptive avg: output cell i averages input rows floor(i*H/OH) .. ceil((i+1)*H/OH) - 1 (PyTorch's
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
from minidl.errors import shape_error
from minidl.ops.conv import Pair, pair
from minidl.ops.index import take_along_axis
from minidl.ops.matmul import matmul
from minidl.tensor import Tensor


class MaxPool2d(Function):
    """y = window maxima of x;  dL/dx = dL/dy scattered to the argmax positions (MaxPool2dBackward)."""

    def __init__(self, kernel_size: Pair, stride: Pair, padding: Pair) -> None:
        self.args = (kernel_size, stride, padding)

    def forward(self, x):
        self.x_shape = x.shape
        y, self.indices = self.backend.maxpool2d_forward(x, *self.args)
        return y

    def backward(self, gy):
        return MaxPool2dBackward(self.x_shape, self.indices, self.args)(gy)


class MaxPool2dBackward(Function):
    """gx = zeros(x_shape) with gy added at ``indices``;  its gradient is a gather at ``indices``."""

    def __init__(self, x_shape: tuple[int, ...], indices: Any, args: tuple[Pair, Pair, Pair]) -> None:
        self.x_shape, self.indices, self.args = x_shape, indices, args

    def forward(self, gy):
        return self.backend.maxpool2d_backward(gy, self.indices, self.x_shape, *self.args)

    def backward(self, g):
        N, C, H, W = self.x_shape
        picked = take_along_axis(g.reshape(N, C, H * W), self.indices.reshape(N, C, -1), axis=2)
        return picked.reshape(self.indices.shape)


class AvgPool2d(Function):
    """y = window sums / divisor;  dL/dx = AvgPool2dBackward(dL/dy), its adjoint."""

    def __init__(self, kernel_size: Pair, stride: Pair, padding: Pair, count_include_pad: bool) -> None:
        self.args = (kernel_size, stride, padding, count_include_pad)

    def forward(self, x):
        self.x_shape = x.shape
        return self.backend.avgpool2d_forward(x, *self.args)

    def backward(self, gy):
        return AvgPool2dBackward(self.x_shape, self.args)(gy)


class AvgPool2dBackward(Function):
    """gx = gy / divisor spread over each window;  linear, and its adjoint is AvgPool2d."""

    def __init__(self, x_shape: tuple[int, ...], args: tuple[Any, ...]) -> None:
        self.x_shape, self.args = x_shape, args

    def forward(self, gy):
        return self.backend.avgpool2d_backward(gy, self.x_shape, *self.args)

    def backward(self, g):
        return AvgPool2d(*self.args)(g)


# --------------------------------------------------------------------------- functional API
def _pool_args(op: str, x: Tensor, ndim: int, kernel_size: Any, stride: Any, padding: Any) -> tuple[Pair, Pair, Pair]:
    """Normalise kernel/stride/padding to pairs (1-d ops pass (1, k)) and check them like PyTorch."""
    if x.ndim != 4:
        raise shape_error(op, x.shape, expected="a 4-d input (N, C, H, W)" if ndim == 2 else "a 3-d input (N, C, L)")
    if ndim == 1:
        kernel_size, padding = (1, _one(kernel_size)), (0, _one(padding))
        stride = (1, _one(kernel_size[1] if stride is None else stride))
    kernel = pair(kernel_size, op, "kernel_size")
    stride = kernel if stride is None or stride == () or stride == [] else pair(stride, op, "stride")
    padding = pair(padding, op, "padding")
    if min(kernel) < 1 or min(stride) < 1:
        raise ValueError(f"{op}: kernel_size {kernel} and stride {stride} must be positive")
    if any(2 * p > k for p, k in zip(padding, kernel)):
        raise ValueError(f"{op}: padding {padding} must be at most half of kernel_size {kernel}")
    for n, k, p in zip(x.shape[2:], kernel, padding):
        if n + 2 * p < k:
            raise shape_error(op, x.shape, expected=f"a padded input ({n} + 2*{p}) at least as large as the "
                                                    f"kernel {kernel}")
    return kernel, stride, padding


def _one(v: Any) -> int:
    """A 1-d pooling argument may be an int or a 1-tuple."""
    return v[0] if isinstance(v, tuple | list) and len(v) == 1 else v


def _check_options(op: str, dilation: Any, ceil_mode: bool) -> None:
    if ceil_mode or dilation not in (1, (1, 1), [1, 1], (1,)):
        raise NotImplementedError(f"{op}: ceil_mode=True and dilation > 1 are not supported in this version")


def max_pool2d(x: Tensor, kernel_size: int | Pair, stride: int | Pair | None = None, padding: int | Pair = 0,
               dilation: int | Pair = 1, ceil_mode: bool = False, return_indices: bool = False) -> Any:
    """2-d max pooling of x (N, C, H, W); ``stride`` defaults to ``kernel_size``. With
    ``return_indices=True`` also returns the int64 flat index h*W + w of every maximum."""
    _check_options("max_pool2d", dilation, ceil_mode)
    fn = MaxPool2d(*_pool_args("max_pool2d", x, 2, kernel_size, stride, padding))
    y = fn(x)
    return (y, Tensor._wrap(fn.indices, x.backend, False)) if return_indices else y


def max_pool1d(x: Tensor, kernel_size: int, stride: int | None = None, padding: int = 0, dilation: int = 1,
               ceil_mode: bool = False, return_indices: bool = False) -> Any:
    """1-d max pooling of x (N, C, L): max_pool2d on (N, C, 1, L)."""
    _check_options("max_pool1d", dilation, ceil_mode)
    x4 = _unsqueeze_1d("max_pool1d", x)
    fn = MaxPool2d(*_pool_args("max_pool1d", x4, 1, kernel_size, stride, padding))
    y = fn(x4).squeeze(2)
    return (y, Tensor._wrap(fn.indices[:, :, 0], x.backend, False)) if return_indices else y


def avg_pool2d(x: Tensor, kernel_size: int | Pair, stride: int | Pair | None = None, padding: int | Pair = 0,
               ceil_mode: bool = False, count_include_pad: bool = True, divisor_override: int | None = None) -> Tensor:
    """2-d average pooling of x (N, C, H, W); ``stride`` defaults to ``kernel_size``."""
    _check_options("avg_pool2d", 1, ceil_mode)
    kernel, stride, padding = _pool_args("avg_pool2d", x, 2, kernel_size, stride, padding)
    y = AvgPool2d(kernel, stride, padding, bool(count_include_pad))(x)
    if divisor_override is not None:  # undo the divisor (count_include_pad: kh*kw) and apply the given one
        if not count_include_pad and (padding[0] or padding[1]):
            raise NotImplementedError("avg_pool2d: divisor_override with count_include_pad=False and padding")
        y = y * (kernel[0] * kernel[1] / divisor_override)
    return y


def avg_pool1d(x: Tensor, kernel_size: int, stride: int | None = None, padding: int = 0, ceil_mode: bool = False,
               count_include_pad: bool = True) -> Tensor:
    """1-d average pooling of x (N, C, L): avg_pool2d on (N, C, 1, L)."""
    _check_options("avg_pool1d", 1, ceil_mode)
    x4 = _unsqueeze_1d("avg_pool1d", x)
    args = _pool_args("avg_pool1d", x4, 1, kernel_size, stride, padding)
    return AvgPool2d(*args, bool(count_include_pad))(x4).squeeze(2)


def _unsqueeze_1d(op: str, x: Tensor) -> Tensor:
    if x.ndim != 3:
        raise shape_error(op, x.shape, expected="a 3-d input (N, C, L)")
    return x.unsqueeze(2)


def _averaging_matrix(n_in: int, n_out: int, x: Tensor) -> Tensor:
    """A (n_out, n_in) matrix whose row i averages inputs floor(i*n_in/n_out) .. ceil((i+1)*n_in/n_out) - 1."""
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
        return AvgPool2d((H // OH, W // OW), (H // OH, W // OW), (0, 0), True)(x)
    return matmul(matmul(_averaging_matrix(H, OH, x), x), _averaging_matrix(W, OW, x).mT)


def adaptive_avg_pool1d(x: Tensor, output_size: int) -> Tensor:
    """Average pooling of x (N, C, L) to a fixed length."""
    if x.ndim != 3:
        raise shape_error("adaptive_avg_pool1d", x.shape, expected="a 3-d input (N, C, L)")
    (L,), (OL,) = x.shape[2:], _adaptive_sizes("adaptive_avg_pool1d", x, output_size, 1)
    return matmul(x, _averaging_matrix(L, OL, x).mT)
