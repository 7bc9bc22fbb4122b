"""Normalization: ``batch_norm``, ``layer_norm`` and ``group_norm`` (PyTorch semantics).

Each one standardises x over some axes and then scales and shifts it per feature:

    mean = E[x],  var = E[(x - mean)^2] (biased),  rstd = 1 / sqrt(var + eps)
    xhat = (x - mean) * rstd,   y = xhat * w + b

    batch norm: the statistics are taken per channel, over (N, *spatial);
    layer norm: over the trailing ``normalized_shape`` axes of each sample;
    group norm: over each group of C/G channels (and all pixels) of each sample.

With g = dL/dy * w and M the number of elements one statistic covers (means over those M):

    dL/dx = rstd * (g - mean(g) - xhat * mean(g * xhat))
    dL/dw = sum dL/dy * xhat,   dL/db = sum dL/dy     (over every axis but the feature axes)

The backward is another node, ``NormBackward``: it runs the fused kernel (``batch_norm_backward`` /
``layer_norm_backward``), and its own gradient (double backward) differentiates the composite
definition ``_normalize`` twice (``minidl/ops/fused.py``).

float16 inputs are normalised in float32 and only y (and the gradients) are rounded to float16, as
in PyTorch: float16 ends at 65504, so (x - mean)^2 overflows once |x - mean| > 256, the variance
becomes inf and xhat = (x - mean) / sqrt(inf) is 0 for every element. The statistics kept for the
backward pass (mean, var, rstd) stay float32.

In evaluation mode batch norm uses running statistics; then y = x * (w * rstd) + (b - mean * w * rstd)
is an affine map written with plain ops.

```pycon
>>> import minidl
>>> x = minidl.tensor([[1.0, 2.0, 3.0]])
>>> [round(v, 4) for v in layer_norm(x, (3,)).tolist()[0]]
[-1.2247, 0.0, 1.2247]

```
"""

from __future__ import annotations

import math
from typing import Any

from minidl.autograd import Function, no_grad
from minidl.backends.base import accumulation_dtype
from minidl.errors import shape_error
from minidl.ops.fused import FusedBackward
from minidl.tensor import Tensor


def _normalize(x: Tensor, w: Tensor | None, axes: tuple[int, ...], shape: tuple[int, ...], eps: float) -> Tensor:
    """The composite definition, xhat * w, written with minidl ops (the reference and the double-backward
    path; the bias is left out: dL/db = sum dL/dy needs no kernel). A float16 x is normalised in float32
    (module docstring) and the result rounded at the end."""
    acc = accumulation_dtype(x.dtype)
    if acc != x.dtype:
        return _normalize(x.to(acc), None if w is None else w.to(acc), axes, shape, eps).to(x.dtype)
    mean = x.mean(axes, keepdims=True)
    xc = x - mean
    xhat = xc * ((xc * xc).mean(axes, keepdims=True) + eps) ** -0.5
    return xhat if w is None else xhat * w.reshape(shape)


class _Norm(Function):
    """Shared by batch and layer norm: inputs (x, [w], [b]); ``has`` says which affine parts are given."""

    kernel: str
    fold: int | None = None  # layer norm: x is handed to the kernels as rows of this length
    axes: tuple[int, ...]  # the axes a statistic is taken over
    param_axes: tuple[int, ...]  # the axes dL/dw and dL/db sum over
    shape: tuple[int, ...]  # the shape w and b broadcast as, against x

    def __init__(self, eps: float, has_weight: bool, has_bias: bool) -> None:
        self.eps, self.has_weight, self.has_bias = eps, has_weight, has_bias

    def _split(self, params: tuple[Any, ...]) -> tuple[Any, Any]:
        w = params[0] if self.has_weight else None
        b = params[-1] if self.has_bias else None
        return w, b

    def backward(self, gy):
        x, *params = self.inputs
        w, b = self._split(tuple(params))
        mean, rstd = self.saved_tensors[:2]
        if w is not None and b is not None:  # the kernel sums dL/db as well: one node for the three
            return NormBackward(self, mean, rstd, with_bias=True)(gy, x, w, b)
        fn = NormBackward(self, mean, rstd)
        gx, gw = fn(gy, x, w) if w is not None else (fn(gy, x), None)
        gb = (gy.sum(self.param_axes) if self.param_axes else gy) if b is not None else None
        grads = (gx,) + ((gw,) if w is not None else ()) + ((gb,) if b is not None else ())
        return grads if len(grads) > 1 else gx


class NormBackward(FusedBackward):
    """(dL/dx, dL/dw[, dL/db]) of batch or layer norm from gy, x, [w[, b]] by the fused kernel (module
    docstring); its own gradient is the second derivative of ``_normalize`` (plus b)."""

    def __init__(self, op: _Norm, mean: Any, rstd: Any, with_bias: bool = False) -> None:
        self.kernel, self.axes, self.shape, self.eps = op.kernel, op.axes, op.shape, op.eps
        self.fold = op.fold
        self.mean, self.rstd = mean, rstd  # the forward's statistics, read by the kernel
        self.wrt = (0, 1, 2) if with_bias else (0, 1) if op.has_weight else (0,)

    def forward(self, gy, x, w=None, b=None):
        shape = x.shape
        if self.fold is not None:  # layer norm: the kernel works on rows
            gy, x = gy.reshape(-1, self.fold), x.reshape(-1, self.fold)
        gx, gw, gb = getattr(self.backend, self.kernel)(gy, x, w, self.mean, self.rstd)
        gx = gx.reshape(shape)
        if b is not None:
            return gx, gw, gb
        return gx if w is None else (gx, gw)

    def composite(self, x, w=None, b=None):
        y = _normalize(x, w, self.axes, self.shape, self.eps)
        return y if b is None else y + b.reshape(self.shape)


class BatchNormFunction(_Norm):
    """Training-mode batch norm of x (N, C, *) with batch statistics per channel."""

    kernel = "batch_norm_backward"

    def forward(self, x, *params):
        self.axes = self.param_axes = (0, *range(2, x.ndim))
        self.shape = (1, x.shape[1]) + (1,) * (x.ndim - 2)
        w, b = self._split(params)
        y, mean, var = self.backend.batch_norm_forward(x, w, b, self.eps)
        self.save_for_backward(mean, 1 / self.backend.xp.sqrt(var + self.eps), var)  # var: the running update
        return y


class LayerNormFunction(_Norm):
    """Layer norm over the last axis of x (*, d), with optional w, b (d,); the kernels see x as rows (rows, d),
    folded on the arrays (the graph holds no reshape nodes)."""
    autocast = "float32_cuda"  # under minidl.amp.autocast (see minidl/amp/autocast.py)

    kernel = "layer_norm_backward"
    axes, shape = (-1,), (-1,)

    def forward(self, x, *params):
        w, b = self._split(params)
        self.fold, self.param_axes = x.shape[-1], tuple(range(x.ndim - 1))
        y, mean, rstd = self.backend.layer_norm_forward(x.reshape(-1, self.fold), w, b, self.eps)
        self.save_for_backward(mean, rstd)
        return y.reshape(x.shape)


# --------------------------------------------------------------------------- functional API
def _affine(op: str, t: Tensor | None, shape: tuple[int, ...], name: str) -> None:
    if t is not None and t.shape != shape:
        raise shape_error(op, t.shape, expected=f"{name} of shape {shape}")


def _update_running_stats(running_mean: Tensor, running_var: Tensor, mean: Any, var: Any, momentum: float,
                         count: int) -> None:
    """``running = (1 - momentum) * running + momentum * batch``, in place (the buffers keep their identity and
    dtype, as PyTorch's), with the batch variance ``var`` (biased, over ``count`` values) made unbiased."""
    with no_grad():
        running_mean.array *= 1 - momentum
        running_mean.array += momentum * mean
        running_var.array *= 1 - momentum
        running_var.array += (momentum * count / (count - 1)) * var


def batch_norm(x: Tensor, running_mean: Tensor | None, running_var: Tensor | None, weight: Tensor | None = None,
               bias: Tensor | None = None, training: bool = False, momentum: float = 0.1,
               eps: float = 1e-5) -> Tensor:
    """Batch normalization of x (N, C, *) per channel, like ``torch.nn.functional.batch_norm``.

    training=True: normalise with the batch statistics and, when running_mean / running_var are
    given, update them in place: ``running = (1 - momentum) * running + momentum * batch`` with the
    *unbiased* batch variance. training=False: normalise with the running statistics."""
    op = "batch_norm"
    if x.ndim < 2:
        raise shape_error(op, x.shape, expected="an input (N, C) or (N, C, *)")
    C = x.shape[1]
    for t, name in ((running_mean, "running_mean"), (running_var, "running_var"), (weight, "weight"),
                    (bias, "bias")):
        _affine(op, t, (C,), name)
    if training or running_mean is None or running_var is None:
        m = x.numel() // C
        if training and m <= 1:
            raise ValueError(f"{op}: expected more than 1 value per channel when training, got input shape {x.shape}")
        fn = BatchNormFunction(eps, weight is not None, bias is not None)
        y = fn(x, *(t for t in (weight, bias) if t is not None))
        if training and running_mean is not None and running_var is not None:
            mean, _, var = fn.saved_tensors
            _update_running_stats(running_mean, running_var, mean, var, momentum, m)
        return y
    shape = (1, C) + (1,) * (x.ndim - 2)
    scale = (running_var + eps) ** -0.5
    if weight is not None:
        scale = scale * weight
    shift = -running_mean * scale
    if bias is not None:
        shift = shift + bias
    return x * scale.reshape(shape) + shift.reshape(shape)


def layer_norm(x: Tensor, normalized_shape: int | tuple[int, ...], weight: Tensor | None = None,
               bias: Tensor | None = None, eps: float = 1e-5) -> Tensor:
    """Normalise over the trailing ``normalized_shape`` axes of x, like ``torch.nn.functional.layer_norm``."""
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    k = len(shape)
    if k == 0 or x.shape[x.ndim - k:] != shape:
        raise shape_error("layer_norm", x.shape, expected=f"trailing dimensions {shape} (normalized_shape)")
    _affine("layer_norm", weight, shape, "weight")
    _affine("layer_norm", bias, shape, "bias")
    d = math.prod(shape)
    params = [t if t.shape == (d,) else t.reshape(d) for t in (weight, bias) if t is not None]
    fn = LayerNormFunction(eps, weight is not None, bias is not None)
    if k == 1:  # the common case: the op folds the leading axes itself
        return fn(x, *params)
    return fn(x.reshape(*x.shape[:x.ndim - k], d), *params).reshape(x.shape)


def group_norm(x: Tensor, num_groups: int, weight: Tensor | None = None, bias: Tensor | None = None,
               eps: float = 1e-5) -> Tensor:
    """Normalise each group of C/num_groups channels of each sample (x (N, C, *)), then scale and
    shift per channel, like ``torch.nn.functional.group_norm``: a layer norm of (N*G, C/G * pixels) rows."""
    if x.ndim < 2 or x.shape[1] % num_groups:
        raise shape_error("group_norm", x.shape, expected=f"an input (N, C, *) with C divisible by {num_groups}")
    C = x.shape[1]
    _affine("group_norm", weight, (C,), "weight")
    _affine("group_norm", bias, (C,), "bias")
    y = LayerNormFunction(eps, False, False)(x.reshape(x.shape[0] * num_groups, -1)).reshape(x.shape)
    shape = (1, C) + (1,) * (x.ndim - 2)
    if weight is not None:
        y = y * weight.reshape(shape)
    if bias is not None:
        y = y + bias.reshape(shape)
    return y
