"""Static int8 layers (``torch.ao.nn.quantized``): they take and return uint8 ``QTensor`` activations.

``convert`` builds them from float layers with ``from_float``: the weight observer of the layer's qconfig
gives per-output-channel int8 weights, the activation observer ``prepare`` attached gives the output's
(scale, zero point). State: ``int_weight`` (int8), ``weight_scale`` (float32 per output channel),
``float_bias`` (float32: added after the int32 sum, at the accumulator's scale), ``scale`` and ``zero_point`` of
the output, all buffers, so a quantized ``state_dict`` is int8 tensors plus a few floats and saves safely.
PyTorch's ``weight()`` and ``bias()`` accessors are methods, as there.

>>> import minidl, minidl.nn as nn
>>> from minidl.ao.nn.quantized import Linear
>>> from minidl.quantization import quantize_per_tensor, quint8
>>> float_layer = nn.Linear(4, 3)
>>> layer = Linear.from_float(float_layer, output_scale=0.05, output_zero_point=64)
>>> x = quantize_per_tensor(minidl.rand(2, 4), 1 / 255, 0, quint8)
>>> y = layer(x)
>>> y.dtype, y.q_scale(), y.q_zero_point()
(minidl.quint8, 0.05, 64)
"""

from __future__ import annotations

from typing import Any

import numpy as np

import minidl.nn as nn
from minidl.ao.nn.quantized.functional import linear_static, quantize_weight
from minidl.backends.shapes import conv_out_size
from minidl.nn.module import Module
from minidl.quantization.observer import PerChannelMinMaxObserver
from minidl.quantization.qtensor import QTensor, per_channel_symmetric, qint8, quantize_per_tensor, quint8
from minidl.tensor import Tensor

WEIGHT_OBSERVER = PerChannelMinMaxObserver.with_args(dtype=qint8, qscheme=per_channel_symmetric)


def _output_qparams(mod: Module, scale: float | None, zero_point: int | None) -> tuple[float, int]:
    """The output (scale, zero point): given, or from the activation observer ``prepare`` attached."""
    if scale is not None:
        return float(scale), int(zero_point or 0)
    observer = getattr(mod, "activation_post_process", None)
    if observer is None:
        raise RuntimeError(f"{type(mod).__name__}: no activation_post_process to read the output's scale from; "
                           "run minidl.quantization.prepare and calibration batches before convert")
    s, z = observer.calculate_qparams()
    return float(s.numpy().reshape(-1)[0]), int(z.numpy().reshape(-1)[0])


def _weight_observer(mod: Module) -> Any:
    """The weight observer (or the QAT module's fake-quantizer, which has already observed)."""
    fake = getattr(mod, "weight_fake_quant", None)
    if fake is not None:
        return fake.activation_post_process
    qconfig = getattr(mod, "qconfig", None)
    return (qconfig.weight if qconfig is not None and qconfig.weight is not None else WEIGHT_OBSERVER)()


def _pair(v: Any) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else tuple(v)


def _check_q(x: Any, layer: str) -> None:
    if not isinstance(x, QTensor) or x.dtype is not quint8 or x.axis is not None:
        got = f"a QTensor of {x.dtype!r}" if isinstance(x, QTensor) else type(x).__name__
        raise TypeError(f"{layer}: expected a per-tensor quint8 QTensor (put a QuantStub before the quantized "
                        f"layers), got {got}")


class _Quantized(Module):
    """Buffers and accessors shared by the quantized Linear and Conv2d."""

    relu = False  # the intrinsic (fused) twins set it: the output clamps at zero_point

    def _set(self, int_weight: Any, weight_scale: Any, bias: Tensor | None, scale: float, zero_point: int) -> None:
        self.register_buffer("int_weight", Tensor(int_weight))
        self.register_buffer("weight_scale", Tensor(weight_scale))
        self.register_buffer("float_bias", None if bias is None else Tensor(bias.detach().numpy().astype(np.float32)))
        self.register_buffer("scale", Tensor(np.array(scale, np.float64)))
        self.register_buffer("zero_point", Tensor(np.array(zero_point, np.int64)))

    def weight(self) -> QTensor:
        """The int8 weight as a per-channel QTensor (axis 0)."""
        zeros = np.zeros(self.weight_scale.shape, np.int64)
        return QTensor(self.int_weight.array, self.weight_scale.array, zeros, qint8, self.int_weight.backend, axis=0)

    def bias(self) -> Tensor | None:
        return self.float_bias

    def _out(self) -> tuple[float, int]:
        return float(self.scale.item()), int(self.zero_point.item())


class Linear(_Quantized):
    """y = x W^T + b on uint8 x, int8 W (per output channel), int32 sums, uint8 y at (scale, zero_point)."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True) -> None:
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self._set(np.zeros((out_features, in_features), np.int8), np.ones(out_features, np.float32),
                  Tensor(np.zeros(out_features, np.float32)) if bias else None, 1.0, 0)

    @classmethod
    def from_float(cls, mod: Module, output_scale: float | None = None, output_zero_point: int | None = None) -> Linear:
        float_linear = mod[0] if isinstance(mod, nn.Sequential) else mod  # a fused LinearReLU holds (Linear, ReLU)
        q = cls(float_linear.in_features, float_linear.out_features, float_linear.bias is not None)
        int_weight, weight_scale = quantize_weight(float_linear.weight, _weight_observer(mod))
        q._set(int_weight, weight_scale, float_linear.bias, *_output_qparams(mod, output_scale, output_zero_point))
        return q

    def forward(self, x: QTensor) -> QTensor:
        _check_q(x, type(self).__name__)
        if x.shape[-1] != self.in_features:
            raise ValueError(f"{type(self).__name__}: input has {x.shape[-1]} features (shape {tuple(x.shape)}), "
                             f"expected {self.in_features}")
        lead = tuple(x.shape[:-1])
        rows = QTensor(x.array.reshape(-1, self.in_features), x.scale, x.zero_point, quint8, x.backend)
        bias = None if self.float_bias is None else self.float_bias.array
        scale, zp = self._out()
        y = linear_static(rows, self.int_weight.array, self.weight_scale.array, bias, scale, zp, self.relu)
        return QTensor(y.reshape(lead + (self.out_features,)), scale, zp, quint8, x.backend)

    def extra_repr(self) -> str:
        scale, zp = self._out()
        return (f"in_features={self.in_features}, out_features={self.out_features}, scale={scale:g}, "
                f"zero_point={zp}, qscheme=per_channel_symmetric")


class Conv2d(_Quantized):
    """2-d convolution on uint8 NCHW x: the input is padded with its zero point (the real 0), unfolded
    (``im2col``) and multiplied by the int8 filters as one ``int8_matmul``, then requantized. groups=1."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Any, stride: Any = 1, padding: Any = 0,
                 dilation: Any = 1, groups: int = 1, bias: bool = True) -> None:
        super().__init__()
        if groups != 1 or isinstance(padding, str):
            raise ValueError(f"quantized Conv2d: groups={groups}, padding={padding!r}; minidl's int8 convolution "
                             "supports groups=1 and integer padding")
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, groups
        self.kernel_size, self.stride = _pair(kernel_size), _pair(stride)
        self.padding, self.dilation = _pair(padding), _pair(dilation)
        self._set(np.zeros((out_channels, in_channels, *self.kernel_size), np.int8),
                  np.ones(out_channels, np.float32), Tensor(np.zeros(out_channels, np.float32)) if bias else None,
                  1.0, 0)

    @classmethod
    def from_float(cls, mod: Module, output_scale: float | None = None, output_zero_point: int | None = None) -> Conv2d:
        conv = mod[0] if isinstance(mod, nn.Sequential) else mod
        if getattr(conv, "padding_mode", "zeros") != "zeros":
            raise ValueError(f"quantized Conv2d: padding_mode={conv.padding_mode!r}; only 'zeros' is supported")
        padding = 0 if conv.padding == "valid" else conv.padding
        q = cls(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, padding, conv.dilation,
                conv.groups, conv.bias is not None)
        int_weight, weight_scale = quantize_weight(conv.weight, _weight_observer(mod))
        q._set(int_weight, weight_scale, conv.bias, *_output_qparams(mod, output_scale, output_zero_point))
        return q

    def forward(self, x: QTensor) -> QTensor:
        _check_q(x, type(self).__name__)
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"{type(self).__name__}: expected input (N, {self.in_channels}, H, W), "
                             f"got shape {tuple(x.shape)}")
        be, xp = x.backend, x.backend.xp
        (ph, pw), (kh, kw) = self.padding, self.kernel_size
        a = x.array
        if ph or pw:  # pad with the zero point: the integer that stands for a real 0
            a = xp.pad(a, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=x.zero_point)
        N, C, H, W = a.shape
        OH = conv_out_size(H, kh, self.stride[0], 0, self.dilation[0])
        OW = conv_out_size(W, kw, self.stride[1], 0, self.dilation[1])
        cols = be.im2col(a, self.kernel_size, self.stride, (0, 0), self.dilation)  # (N, C, kh, kw, OH, OW)
        rows = xp.ascontiguousarray(cols.reshape(N, C * kh * kw, OH * OW).transpose(0, 2, 1))
        rows = QTensor(rows.reshape(N * OH * OW, C * kh * kw), x.scale, x.zero_point, quint8, be)
        bias = None if self.float_bias is None else self.float_bias.array
        scale, zp = self._out()
        y = linear_static(rows, self.int_weight.array.reshape(self.out_channels, -1), self.weight_scale.array,
                          bias, scale, zp, self.relu)
        y = xp.ascontiguousarray(y.reshape(N, OH, OW, self.out_channels).transpose(0, 3, 1, 2))
        return QTensor(y, scale, zp, quint8, be)

    def extra_repr(self) -> str:
        scale, zp = self._out()
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}, "
                f"padding={self.padding}, scale={scale:g}, zero_point={zp}")


class Quantize(Module):
    """float Tensor -> quint8 QTensor at a fixed (scale, zero_point) (what a calibrated QuantStub becomes)."""

    def __init__(self, scale: float, zero_point: int, dtype: Any = quint8) -> None:
        super().__init__()
        if dtype is not quint8:
            raise ValueError(f"Quantize: minidl's static layers take quint8 activations, got {dtype!r}")
        self.register_buffer("scale", Tensor(np.array(scale, np.float64)))
        self.register_buffer("zero_point", Tensor(np.array(zero_point, np.int64)))

    @classmethod
    def from_float(cls, mod: Module) -> Quantize:
        return cls(*_output_qparams(mod, None, None))

    def forward(self, x: Tensor) -> QTensor:
        return quantize_per_tensor(x, float(self.scale.item()), int(self.zero_point.item()), quint8)

    def extra_repr(self) -> str:
        return f"scale={self.scale.item():g}, zero_point={self.zero_point.item()}, dtype=minidl.quint8"


class DeQuantize(Module):
    """QTensor -> float32 Tensor, (q - z) s."""

    @classmethod
    def from_float(cls, mod: Module) -> DeQuantize:
        return cls()

    def forward(self, x: QTensor) -> Tensor:
        return x.dequantize()


class ReLU(Module):
    """max(q, z) on a QTensor: the integer z is the real 0, so ReLU needs no arithmetic."""

    @classmethod
    def from_float(cls, mod: Module) -> ReLU:
        return cls()

    def forward(self, x: QTensor) -> QTensor:
        _check_q(x, "quantized ReLU")
        return QTensor(x.backend.xp.maximum(x.array, np.uint8(x.zero_point)), x.scale, x.zero_point, quint8, x.backend)


class MaxPool2d(Module):
    """Max pooling on the integers (the map q -> (q - z) s is increasing, so the max commutes with it)."""

    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0) -> None:
        super().__init__()
        self.kernel_size = _pair(kernel_size)
        self.stride, self.padding = _pair(stride if stride is not None else kernel_size), _pair(padding)

    @classmethod
    def from_float(cls, mod: Module) -> MaxPool2d:
        if getattr(mod, "dilation", 1) not in (1, (1, 1)) or getattr(mod, "ceil_mode", False):
            raise ValueError("quantized MaxPool2d: dilation and ceil_mode are not supported")
        return cls(mod.kernel_size, mod.stride, mod.padding)

    def forward(self, x: QTensor) -> QTensor:
        _check_q(x, "quantized MaxPool2d")
        y, _ = x.backend.maxpool2d_forward(x.array.astype(np.float32), self.kernel_size, self.stride, self.padding)
        return QTensor(y.astype(np.uint8), x.scale, x.zero_point, quint8, x.backend)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class Flatten(Module):
    """Flatten dims start_dim..end_dim of a QTensor (the scale and zero point are unchanged)."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1) -> None:
        super().__init__()
        self.start_dim, self.end_dim = start_dim, end_dim

    @classmethod
    def from_float(cls, mod: Module) -> Flatten:
        return cls(mod.start_dim, mod.end_dim)

    def forward(self, x: QTensor) -> QTensor:
        return x.flatten(self.start_dim, self.end_dim)
