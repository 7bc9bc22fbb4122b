"""Normalization layers: ``BatchNorm1d``, ``BatchNorm2d``, ``LayerNorm``, ``GroupNorm`` (as ``torch.nn``).

Batch norm keeps *running* statistics, buffers saved in ``state_dict`` but not learned:

    training:  normalise with the batch's mean and biased variance, then
               running_mean = (1 - momentum) * running_mean + momentum * batch_mean
               running_var  = (1 - momentum) * running_var  + momentum * batch_var_unbiased
               (momentum=None: a cumulative average, momentum = 1 / num_batches_tracked)
    eval:      normalise with running_mean and running_var.

``weight`` starts at ones and ``bias`` at zeros, so a fresh layer only standardises.

```pycon
>>> import minidl, minidl.nn as nn
>>> bn = nn.BatchNorm2d(3)
>>> [name for name, _ in bn.state_dict().items()]
['weight', 'bias', 'running_mean', 'running_var', 'num_batches_tracked']
>>> abs(round(float(bn(minidl.randn(8, 3, 4, 4)).mean()), 6))
0.0

```
"""

from __future__ import annotations

from typing import Any

import numpy as np

from minidl.creation import factory_backend, ones, tensor, zeros
from minidl.errors import shape_error
from minidl.nn import init
from minidl.nn.module import Module
from minidl.nn.parameter import Parameter
from minidl.ops.norm import batch_norm, group_norm, layer_norm
from minidl.tensor import Tensor


class _BatchNorm(Module):
    _dims: tuple[int, ...]  # the input dimensions this layer accepts

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1, affine: bool = True,
                 track_running_stats: bool = True, dtype: Any = None, backend: Any = None, device: Any = None) -> None:
        backend = factory_backend(backend, device)  # PyTorch's device= or minidl's backend=
        super().__init__()
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        dtype = dtype or "float32"
        if affine:
            self.weight = Parameter(ones(num_features, dtype=dtype, backend=backend))
            self.bias = Parameter(zeros(num_features, dtype=dtype, backend=backend))
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if track_running_stats:
            self.register_buffer("running_mean", zeros(num_features, dtype=dtype, backend=backend))
            self.register_buffer("running_var", ones(num_features, dtype=dtype, backend=backend))
            self.register_buffer("num_batches_tracked", tensor(0, dtype=np.int64, backend=backend))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)

    def _momentum_factor(self) -> float:
        """The weight of this batch in the running statistics; in training, counts the batch first
        (``momentum=None``: a cumulative moving average, 1 / batches seen)."""
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats:
            self.num_batches_tracked.array += 1
            if self.momentum is None:
                factor = 1.0 / int(self.num_batches_tracked.item())
        return factor

    def reset_running_stats(self) -> None:
        if self.track_running_stats:
            self.running_mean.array[...] = 0
            self.running_var.array[...] = 1
            self.num_batches_tracked.array[...] = 0

    def reset_parameters(self) -> None:
        self.reset_running_stats()
        if self.affine:
            init.ones_(self.weight)
            init.zeros_(self.bias)

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim not in self._dims:
            dims = " or ".join(f"{d}-d" for d in self._dims)
            raise shape_error(type(self).__name__, x.shape, expected=f"a {dims} input")
        if x.shape[1] != self.num_features:
            raise shape_error(type(self).__name__, x.shape, expected=f"{self.num_features} channels on axis 1")
        factor = self._momentum_factor()
        # batch statistics in training, and in eval when no running statistics are kept
        use_batch = self.training or self.running_mean is None
        track = not self.training or self.track_running_stats
        return batch_norm(x, self.running_mean if track else None, self.running_var if track else None,
                          self.weight, self.bias, use_batch, factor, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    """Batch norm of x (N, C) or (N, C, L), statistics per channel C."""

    _dims = (2, 3)


class BatchNorm2d(_BatchNorm):
    """Batch norm of x (N, C, H, W), statistics per channel C."""

    _dims = (4,)


class LayerNorm(Module):
    """Normalise over the trailing ``normalized_shape`` axes; weight (ones) and bias (zeros) of that shape."""

    def __init__(self, normalized_shape: int | tuple[int, ...], eps: float = 1e-5, elementwise_affine: bool = True,
                 bias: bool = True, dtype: Any = None, backend: Any = None, device: Any = None) -> None:
        backend = factory_backend(backend, device)  # PyTorch's device= or minidl's backend=
        super().__init__()
        shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
        self.normalized_shape, self.eps, self.elementwise_affine = shape, eps, elementwise_affine
        dtype = dtype or "float32"
        if elementwise_affine:
            self.weight = Parameter(ones(shape, dtype=dtype, backend=backend))
            if bias:
                self.bias = Parameter(zeros(shape, dtype=dtype, backend=backend))
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)

    def forward(self, x: Tensor) -> Tensor:
        return layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}"


class GroupNorm(Module):
    """Normalise each group of num_channels / num_groups channels per sample; per-channel weight and bias."""

    def __init__(self, num_groups: int, num_channels: int, eps: float = 1e-5, affine: bool = True,
                 dtype: Any = None, backend: Any = None, device: Any = None) -> None:
        backend = factory_backend(backend, device)  # PyTorch's device= or minidl's backend=
        super().__init__()
        if num_channels % num_groups:
            raise ValueError(f"GroupNorm: num_channels={num_channels} must be divisible by num_groups={num_groups}")
        self.num_groups, self.num_channels, self.eps, self.affine = num_groups, num_channels, eps, affine
        dtype = dtype or "float32"
        if affine:
            self.weight = Parameter(ones(num_channels, dtype=dtype, backend=backend))
            self.bias = Parameter(zeros(num_channels, dtype=dtype, backend=backend))
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)

    def forward(self, x: Tensor) -> Tensor:
        return group_norm(x, self.num_groups, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}"
