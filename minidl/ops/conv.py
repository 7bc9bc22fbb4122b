"""Convolutions: ``conv1d``, ``conv2d`` and ``conv_transpose2d`` (NCHW, PyTorch semantics).

conv2d cross-correlates every input plane with a small kernel. With x (N, C, H, W), weight
(O, C/groups, kh, kw), stride s, zero padding p and dilation d (pairs, one per spatial axis):

    y[n, o, i, j] = b[o] + sum_{c, a, e} w[o, c, a, e] * xpad[n, g*C/groups + c, i*s + a*d, j*s + e*d]

where g = o // (O/groups) is the group of output channel o, and OH = (H + 2p - d(kh-1) - 1) // s + 1.
The kernels compute it as one batched matrix product: ``cols = im2col(x)`` lays out, for every
output pixel, the ``C*kh*kw`` values under the kernel, and ``y = W (O, C*kh*kw) @ cols``.

y is linear in x and in w, so both gradients are again convolutions:

    dL/dx = conv2d_backward_input(dL/dy, w)    = W^T @ dL/dy, folded back by col2im
                                                 (a *transposed* convolution of dL/dy with w)
    dL/dw = conv2d_backward_weight(x, dL/dy)   = sum_n dL/dy[n] @ cols[n]^T
    dL/db = dL/dy summed over (N, OH, OW)

Each of the three is a Function whose backward uses the other two, so gradients of gradients
(double backward) work: e.g. <ggx, convT(gy, w)> = <conv(ggx, w), gy> gives convT's gradients.
``conv_transpose2d`` *is* the input gradient of a conv2d; 1-d convolutions go through 2-d with H = 1.

>>> import minidl
>>> x = minidl.ones(1, 1, 4, 4)
>>> w = minidl.ones(1, 1, 3, 3)
>>> conv2d(x, w, padding=1)[0, 0].tolist()
[[4.0, 6.0, 6.0, 4.0], [6.0, 9.0, 9.0, 6.0], [6.0, 9.0, 9.0, 6.0], [4.0, 6.0, 6.0, 4.0]]
"""

from __future__ import annotations

from typing import Any

from minidl.autograd import Function, is_autocast_enabled
from minidl.errors import ShapeError, dtype_mismatch_error, shape_error
from minidl.ops.shape import pad
from minidl.tensor import Tensor

Pair = tuple[int, int]


def pair(value: Any, op: str, name: str) -> Pair:
    """2 -> (2, 2); (2, 3) -> (2, 3); checks the values are ints."""
    values = tuple(value) if isinstance(value, tuple | list) else (value, value)
    if len(values) != 2 or not all(isinstance(v, int) for v in values):
        raise ValueError(f"{op}: {name} must be an int or a pair of ints, got {value!r}")
    return values  # type: ignore[return-value]


class _Geometry:
    """stride, padding, dilation, groups of one convolution (shared by its three Functions)."""

    def __init__(self, stride: Pair, padding: Pair, dilation: Pair, groups: int) -> None:
        self.stride, self.padding, self.dilation, self.groups = stride, padding, dilation, groups

    def args(self) -> tuple[Pair, Pair, Pair, int]:
        return self.stride, self.padding, self.dilation, self.groups


class Conv2dFunction(Function):
    """y = conv2d(x, w) (+ b);  dL/dx = ConvTranspose (input gradient), dL/dw = weight gradient,
    dL/db = dL/dy summed over batch and pixels."""
    autocast = "lower"  # under minidl.amp.autocast (see minidl/amp/autocast.py)

    def __init__(self, geometry: _Geometry) -> None:
        self.geometry = geometry

    def forward(self, x, w, b=None):
        return self.backend.conv2d_forward(x, w, b, *self.geometry.args())

    def backward(self, gy):
        x, w = self.inputs[0], self.inputs[1]
        gx = Conv2dInputGrad(x.shape, self.geometry)(gy, w) if x.requires_grad else None
        gw = Conv2dWeightGrad(w.shape, self.geometry)(x, gy) if w.requires_grad else None
        if len(self.inputs) == 2:
            return gx, gw
        gb = gy.sum(axis=(0, 2, 3)) if self.inputs[2].requires_grad else None
        return gx, gw, gb


class Conv2dInputGrad(Function):
    """y = convT(gy, w): the gradient of conv2d w.r.t. its input (and conv_transpose2d's forward).
    It is linear in gy and in w:  dL/dgy = conv2d(dL/dy, w),  dL/dw = weight_grad(dL/dy, gy)."""
    autocast = "lower"  # under minidl.amp.autocast (see minidl/amp/autocast.py)

    def __init__(self, x_shape: tuple[int, ...], geometry: _Geometry) -> None:
        self.x_shape, self.geometry = x_shape, geometry

    def forward(self, gy, w):
        return self.backend.conv2d_backward_input(gy, w, self.x_shape, *self.geometry.args())

    def backward(self, g):
        gy, w = self.inputs
        ggy = Conv2dFunction(self.geometry)(g, w) if gy.requires_grad else None
        gw = Conv2dWeightGrad(w.shape, self.geometry)(g, gy) if w.requires_grad else None
        return ggy, gw


class Conv2dWeightGrad(Function):
    """y = weight_grad(x, gy): the gradient of conv2d w.r.t. its weight. Linear in x and gy:
    dL/dx = convT(gy, dL/dy),  dL/dgy = conv2d(x, dL/dy)."""

    def __init__(self, w_shape: tuple[int, ...], geometry: _Geometry) -> None:
        self.w_shape, self.geometry = w_shape, geometry

    def forward(self, x, gy):
        return self.backend.conv2d_backward_weight(x, gy, self.w_shape, *self.geometry.args())

    def backward(self, g):
        x, gy = self.inputs
        gx = Conv2dInputGrad(x.shape, self.geometry)(gy, g) if x.requires_grad else None
        ggy = Conv2dFunction(self.geometry)(x, g) if gy.requires_grad else None
        return gx, ggy


# --------------------------------------------------------------------------- checks
def _check(op: str, x: Tensor, weight: Tensor, bias: Tensor | None, groups: int, in_channels: int,
           out_channels: int) -> None:
    if x.ndim != 4:
        raise shape_error(op, x.shape, expected="a 4-d input (N, C, H, W)" if op.endswith("2d") else
                          "a 3-d input (N, C, L)")
    if weight.ndim != 4:
        raise shape_error(op, weight.shape, expected="a weight with as many dimensions as the input")
    if not isinstance(groups, int) or groups < 1 or in_channels % groups or out_channels % groups:
        raise ShapeError(f"{op}: groups={groups} must divide both the input channels ({in_channels}) and the "
                         f"output channels ({out_channels})")
    if bias is not None and bias.shape != (out_channels,):
        raise shape_error(op, bias.shape, expected=f"a bias of shape ({out_channels},)")
    if (x.dtype != weight.dtype or (bias is not None and bias.dtype != weight.dtype)) and not is_autocast_enabled():
        raise dtype_mismatch_error(op, input=x, weight=weight, bias=bias)


def _channels_error(op: str, x: Tensor, weight: Tensor, channels: int, expected: str) -> ShapeError:
    """Input channels that do not fit, with a hint when the input looks channels-last (N, H, W, C),
    the layout of TensorFlow and of images loaded with PIL or matplotlib."""
    if x.shape[-1] == channels:
        order = "(N, C, L)" if x.ndim == 3 else "(N, C, H, W)"
        swap = "x.transpose(1, 2)" if x.ndim == 3 else "x.permute(0, 3, 1, 2)"
        expected += (f"; the input looks channels-last, but minidl (like PyTorch) is channels-first {order}: "
                     f"move the channels to dimension 1 with {swap}")
    return shape_error(op, x.shape, weight.shape, expected=expected)


def _same_padding(op: str, x: Tensor, kernel: Pair, stride: Pair, dilation: Pair) -> tuple[Tensor, Pair]:
    """padding='same': total d*(k-1) per axis, the odd one extra at the end (as PyTorch)."""
    if stride != (1, 1):
        raise ValueError(f"{op}: padding='same' is not supported for strided convolutions (stride={stride})")
    totals = [d * (k - 1) for k, d in zip(kernel, dilation)]
    if any(t % 2 for t in totals):
        x = pad(x, ((0, 0), (0, 0), (0, totals[0] % 2), (0, totals[1] % 2)))
    return x, (totals[0] // 2, totals[1] // 2)


def conv2d(x: Tensor, weight: Tensor, bias: Tensor | None = None, stride: int | Pair = 1,
           padding: int | Pair | str = 0, dilation: int | Pair = 1, groups: int = 1) -> Tensor:
    """2-d convolution (cross-correlation) of x (N, C, H, W) with weight (O, C/groups, kh, kw), like
    ``torch.nn.functional.conv2d``; ``padding`` may be an int, a pair, ``"valid"`` or ``"same"``."""
    op = "conv2d"
    _check(op, x, weight, bias, groups, x.shape[1] if x.ndim == 4 else 0, weight.shape[0])
    if x.shape[1] != weight.shape[1] * groups:
        raise _channels_error(op, x, weight, weight.shape[1] * groups,
                              expected=f"input channels {x.shape[1]} == weight.shape[1] * groups "
                                       f"({weight.shape[1]} * {groups})")
    stride, dilation = pair(stride, op, "stride"), pair(dilation, op, "dilation")
    kernel = (weight.shape[2], weight.shape[3])
    if padding == "same":
        x, padding = _same_padding(op, x, kernel, stride, dilation)
    elif padding == "valid":
        padding = (0, 0)
    padding = pair(padding, op, "padding")
    for n, k, p, d in zip(x.shape[2:], kernel, padding, dilation):
        if n + 2 * p < d * (k - 1) + 1:
            raise shape_error(op, x.shape, weight.shape,
                              expected=f"a padded input ({n} + 2*{p}) at least as large as the dilated kernel "
                                       f"({d}*({k}-1)+1)")
    fn = Conv2dFunction(_Geometry(stride, padding, dilation, groups))
    return fn(x, weight) if bias is None else fn(x, weight, bias)


def conv1d(x: Tensor, weight: Tensor, bias: Tensor | None = None, stride: int | tuple[int] = 1,
           padding: int | tuple[int] | str = 0, dilation: int | tuple[int] = 1, groups: int = 1) -> Tensor:
    """1-d convolution of x (N, C, L) with weight (O, C/groups, k): conv2d on (N, C, 1, L)."""
    if x.ndim != 3 or weight.ndim != 3:
        raise shape_error("conv1d", x.shape, weight.shape, expected="x (N, C, L) and weight (O, C/groups, k)")
    if x.shape[1] != weight.shape[1] * groups:
        raise _channels_error("conv1d", x, weight, weight.shape[1] * groups,
                              expected=f"input channels {x.shape[1]} == weight.shape[1] * groups "
                                       f"({weight.shape[1]} * {groups})")
    if (x.dtype != weight.dtype or (bias is not None and bias.dtype != weight.dtype)) and not is_autocast_enabled():
        raise dtype_mismatch_error("conv1d", input=x, weight=weight, bias=bias)

    def one(v: Any) -> Any:  # 3 or (3,) -> 3
        return v[0] if isinstance(v, tuple | list) and len(v) == 1 else v

    padding2 = padding if isinstance(padding, str) else (0, one(padding))
    y = conv2d(x.unsqueeze(2), weight.unsqueeze(2), bias, (1, one(stride)), padding2, (1, one(dilation)), groups)
    return y.squeeze(2)


def conv_transpose2d(x: Tensor, weight: Tensor, bias: Tensor | None = None, stride: int | Pair = 1,
                     padding: int | Pair = 0, output_padding: int | Pair = 0, groups: int = 1,
                     dilation: int | Pair = 1) -> Tensor:
    """Transposed convolution (the input gradient of a conv2d) of x (N, C_in, H, W) with weight
    (C_in, C_out/groups, kh, kw), like ``torch.nn.functional.conv_transpose2d``:
    ``OH = (H - 1)*s - 2p + d*(kh - 1) + output_padding + 1``."""
    op = "conv_transpose2d"
    _check(op, x, weight, None, groups, weight.shape[0], weight.shape[1] * groups)
    if x.shape[1] != weight.shape[0]:
        raise _channels_error(op, x, weight, weight.shape[0],
                              expected=f"input channels {x.shape[1]} == weight.shape[0]")
    stride, padding = pair(stride, op, "stride"), pair(padding, op, "padding")
    dilation, output_padding = pair(dilation, op, "dilation"), pair(output_padding, op, "output_padding")
    out_channels = weight.shape[1] * groups
    if bias is not None and bias.shape != (out_channels,):
        raise shape_error(op, bias.shape, expected=f"a bias of shape ({out_channels},)")
    if bias is not None and bias.dtype != weight.dtype:
        raise dtype_mismatch_error(op, input=x, weight=weight, bias=bias)
    size = []
    for n, k, s, p, d, o in zip(x.shape[2:], weight.shape[2:], stride, padding, dilation, output_padding):
        if not 0 <= o < max(s, d):
            raise ValueError(f"{op}: output_padding {output_padding} must be smaller than stride {stride} "
                             f"or dilation {dilation}")
        size.append((n - 1) * s - 2 * p + d * (k - 1) + o + 1)
    if min(size) < 1:
        raise shape_error(op, x.shape, weight.shape, expected=f"a positive output size, got {tuple(size)}")
    y = Conv2dInputGrad((x.shape[0], out_channels, *size), _Geometry(stride, padding, dilation, groups))(x, weight)
    return y if bias is None else y + bias.reshape(1, out_channels, 1, 1)
