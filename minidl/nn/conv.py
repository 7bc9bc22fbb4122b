"""Convolution layers: ``Conv1d``, ``Conv2d``, ``ConvTranspose2d`` (PyTorch signatures and init).

The math is in ``minidl.ops.conv``; a layer owns the weight and bias:

* ``Conv2d``: weight (out_channels, in_channels / groups, kh, kw), bias (out_channels,);
* ``ConvTranspose2d``: weight (in_channels, out_channels / groups, kh, kw), bias (out_channels,).

Default init, as PyTorch: ``kaiming_uniform_(weight, a=sqrt(5))``, i.e. U(-1/sqrt(fan_in), 1/sqrt(fan_in))
with fan_in = weight.shape[1] * kh * kw, and the bias from the same range.

>>> import minidl, minidl.nn as nn
>>> conv = nn.Conv2d(1, 32, 3)
>>> conv.weight.shape, conv.bias.shape
(minidl.Size([32, 1, 3, 3]), minidl.Size([32]))
>>> conv(minidl.zeros(64, 1, 28, 28)).shape
minidl.Size([64, 32, 26, 26])
"""

from __future__ import annotations

import math
from typing import Any

from minidl.creation import empty, factory_backend
from minidl.nn import init
from minidl.nn.module import Module
from minidl.nn.parameter import Parameter
from minidl.ops.conv import conv1d, conv2d, conv_transpose2d
from minidl.random import Generator
from minidl.tensor import Tensor


def _tuple(value: Any, n: int) -> tuple[int, ...]:
    return tuple(value) if isinstance(value, tuple | list) else (value,) * n


class _ConvNd(Module):
    """What the conv layers share: parameters, init and repr."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: tuple[int, ...], stride: tuple[int, ...],
                 padding: Any, dilation: tuple[int, ...], transposed: bool, output_padding: tuple[int, ...],
                 groups: int, bias: bool, padding_mode: str, dtype: Any, backend: Any,
                 generator: Generator | None) -> None:
        super().__init__()
        name = type(self).__name__
        if groups < 1 or in_channels % groups or out_channels % groups:
            raise ValueError(f"{name}: groups={groups} must divide in_channels={in_channels} and "
                             f"out_channels={out_channels}")
        if padding_mode != "zeros":
            raise NotImplementedError(f"{name}: padding_mode={padding_mode!r}; only 'zeros' is supported")
        if isinstance(padding, str) and padding not in ("same", "valid"):
            raise ValueError(f"{name}: padding must be an int, a tuple, 'same' or 'valid', got {padding!r}")
        self.in_channels, self.out_channels, self.kernel_size = in_channels, out_channels, kernel_size
        self.stride, self.padding, self.dilation = stride, padding, dilation
        self.transposed, self.output_padding, self.groups = transposed, output_padding, groups
        self.padding_mode = padding_mode
        shape = (in_channels, out_channels // groups) if transposed else (out_channels, in_channels // groups)
        dtype = dtype or "float32"
        self.weight = Parameter(empty(*shape, *kernel_size, dtype=dtype, backend=backend))
        if bias:
            self.bias = Parameter(empty(out_channels, dtype=dtype, backend=backend))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters(generator)

    def reset_parameters(self, generator: Generator | None = None) -> None:
        init.kaiming_uniform_(self.weight, a=math.sqrt(5), generator=generator)
        if self.bias is not None:
            fan_in = self.weight.shape[1] * math.prod(self.kernel_size)
            bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0.0
            init.uniform_(self.bias, -bound, bound, generator)

    def extra_repr(self) -> str:
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        n = len(self.kernel_size)
        if self.padding != (0,) * n:
            s += f", padding={self.padding!r}"
        if self.dilation != (1,) * n:
            s += f", dilation={self.dilation}"
        if self.output_padding != (0,) * n:
            s += f", output_padding={self.output_padding}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        return s


class Conv1d(_ConvNd):
    """1-d convolution over x (N, C_in, L) -> (N, C_out, L_out), as ``torch.nn.Conv1d``."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int | tuple[int], stride: int | tuple[int] = 1,
                 padding: int | tuple[int] | str = 0, dilation: int | tuple[int] = 1, groups: int = 1,
                 bias: bool = True, padding_mode: str = "zeros", dtype: Any = None, backend: Any = None,
                 device: Any = None,
                 generator: Generator | None = None) -> None:
        backend = factory_backend(backend, device)  # PyTorch's device= or minidl's backend=
        padding = padding if isinstance(padding, str) else _tuple(padding, 1)
        super().__init__(in_channels, out_channels, _tuple(kernel_size, 1), _tuple(stride, 1), padding,
                         _tuple(dilation, 1), False, (0,), groups, bias, padding_mode, dtype, backend, generator)

    def forward(self, x: Tensor) -> Tensor:
        padding = self.padding if isinstance(self.padding, str) else self.padding[0]
        return conv1d(x, self.weight, self.bias, self.stride[0], padding, self.dilation[0], self.groups)


class Conv2d(_ConvNd):
    """2-d convolution over x (N, C_in, H, W) -> (N, C_out, OH, OW), as ``torch.nn.Conv2d``."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int | tuple[int, int],
                 stride: int | tuple[int, int] = 1, padding: int | tuple[int, int] | str = 0,
                 dilation: int | tuple[int, int] = 1, groups: int = 1, bias: bool = True, padding_mode: str = "zeros",
                 dtype: Any = None, backend: Any = None,
                 device: Any = None, generator: Generator | None = None) -> None:
        backend = factory_backend(backend, device)  # PyTorch's device= or minidl's backend=
        padding = padding if isinstance(padding, str) else _tuple(padding, 2)
        super().__init__(in_channels, out_channels, _tuple(kernel_size, 2), _tuple(stride, 2), padding,
                         _tuple(dilation, 2), False, (0, 0), groups, bias, padding_mode, dtype, backend, generator)

    def forward(self, x: Tensor) -> Tensor:
        return conv2d(x, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)


class ConvTranspose2d(_ConvNd):
    """Transposed 2-d convolution (the gradient of a Conv2d w.r.t. its input), as ``torch.nn.ConvTranspose2d``:
    OH = (H - 1) * stride - 2 * padding + dilation * (kh - 1) + output_padding + 1."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int | tuple[int, int],
                 stride: int | tuple[int, int] = 1, padding: int | tuple[int, int] = 0,
                 output_padding: int | tuple[int, int] = 0, groups: int = 1, bias: bool = True,
                 dilation: int | tuple[int, int] = 1, padding_mode: str = "zeros", dtype: Any = None,
                 backend: Any = None, device: Any = None, generator: Generator | None = None) -> None:
        backend = factory_backend(backend, device)  # PyTorch's device= or minidl's backend=
        super().__init__(in_channels, out_channels, _tuple(kernel_size, 2), _tuple(stride, 2), _tuple(padding, 2),
                         _tuple(dilation, 2), True, _tuple(output_padding, 2), groups, bias, padding_mode, dtype,
                         backend, generator)

    def forward(self, x: Tensor, output_size: Any = None) -> Tensor:
        """``output_size`` (the last two entries are used) picks output_padding, as in PyTorch."""
        output_padding = self.output_padding
        if output_size is not None:
            wanted = tuple(output_size)[-2:]
            smallest = [(n - 1) * s - 2 * p + d * (k - 1) + 1 for n, s, p, d, k in
                        zip(x.shape[2:], self.stride, self.padding, self.dilation, self.kernel_size)]
            output_padding = tuple(w - m for w, m in zip(wanted, smallest))
        return conv_transpose2d(x, self.weight, self.bias, self.stride, self.padding, output_padding, self.groups,
                                self.dilation)
