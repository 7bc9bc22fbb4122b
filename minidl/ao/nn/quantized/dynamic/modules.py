"""Dynamically quantized layers (``torch.ao.nn.quantized.dynamic``): float in, float out, int8 inside.

The weights are int8 with one scale per output row, chosen once by ``quantize_dynamic``; the input's
(scale, zero point) are chosen from each batch's own min and max at run time, so no calibration is
needed. The products run as int8 x uint8 -> int32 (``int8_matmul``) and are dequantized to float32
(``minidl.ao.nn.quantized.functional``). The usual target is a model whose time goes into matmuls of
weights read from memory: LSTMs and Transformers at small batch.

>>> import minidl, minidl.nn as nn
>>> from minidl.ao.nn.quantized.dynamic import Linear
>>> float_layer = nn.Linear(8, 4)
>>> layer = Linear.from_float(float_layer)
>>> x = minidl.randn(3, 8)
>>> bool((layer(x) - float_layer(x)).abs().max() < 0.05)
True
"""

from __future__ import annotations

from typing import Any

import numpy as np

import minidl.nn as nn
from minidl.ao.nn.quantized.functional import linear_dynamic, quantize_weight
from minidl.nn.module import Module
from minidl.quantization.observer import PerChannelMinMaxObserver
from minidl.quantization.qtensor import QTensor, per_channel_symmetric, qint8
from minidl.tensor import Tensor

WEIGHT_OBSERVER = PerChannelMinMaxObserver.with_args(dtype=qint8, qscheme=per_channel_symmetric)


def _weight_observer(mod: Module) -> Any:
    qconfig = getattr(mod, "qconfig", None)
    return (qconfig.weight if qconfig is not None and qconfig.weight is not None else WEIGHT_OBSERVER)()


def _float(x: Any, layer: str) -> Tensor:
    if not isinstance(x, Tensor) or x.dtype.kind != "f":
        got = f"a Tensor of {x.dtype}" if isinstance(x, Tensor) else type(x).__name__
        raise TypeError(f"{layer}: expected a floating point Tensor, got {got}")
    return x


class Linear(Module):
    """y = x W^T + b with int8 W (per output row) and x quantized per batch; float32 y."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True) -> None:
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.register_buffer("int_weight", Tensor(np.zeros((out_features, in_features), np.int8)))
        self.register_buffer("weight_scale", Tensor(np.ones(out_features, np.float32)))
        self.register_buffer("float_bias", Tensor(np.zeros(out_features, np.float32)) if bias else None)

    @classmethod
    def from_float(cls, mod: nn.Linear) -> Linear:
        q = cls(mod.in_features, mod.out_features, mod.bias is not None)
        int_weight, weight_scale = quantize_weight(mod.weight, _weight_observer(mod))
        q.int_weight.array, q.weight_scale.array = int_weight, weight_scale
        if mod.bias is not None:
            q.float_bias.array = mod.bias.detach().array.astype(np.float32)
        return q

    def weight(self) -> QTensor:
        zeros = np.zeros(self.weight_scale.shape, np.int64)
        return QTensor(self.int_weight.array, self.weight_scale.array, zeros, qint8, self.int_weight.backend, axis=0)

    def bias(self) -> Tensor | None:
        return self.float_bias

    def forward(self, x: Tensor) -> Tensor:
        x = _float(x, "dynamic quantized Linear")
        if x.shape[-1] != self.in_features:
            raise ValueError(f"dynamic quantized Linear: input has {x.shape[-1]} features (shape {tuple(x.shape)}), "
                             f"expected {self.in_features}")
        bias = None if self.float_bias is None else self.float_bias.array
        y = linear_dynamic(x.backend, x.array.reshape(-1, self.in_features), self.int_weight.array,
                           self.weight_scale.array, bias)
        return Tensor._wrap(y.reshape(tuple(x.shape[:-1]) + (self.out_features,)), x.backend, False)

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, dtype=minidl.qint8, "
                "qscheme=per_channel_symmetric")


class LSTM(Module):
    """A stacked, optionally bidirectional LSTM with int8 weights (``nn.LSTM``'s arguments and outputs).

    Per layer and direction: the input projection x W_ih^T for all steps is one dynamic int8 product; each
    step's h W_hh^T is another (h quantized per step), and the gates go through the float
    ``lstm_cell_forward`` kernel: c' = s(f) c + s(i) tanh(g), h' = s(o) tanh(c'). Inference only.
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, bidirectional: bool = False) -> None:
        super().__init__()
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.bias, self.batch_first, self.bidirectional = bias, batch_first, bidirectional
        D, H = 2 if bidirectional else 1, hidden_size
        for layer in range(num_layers):
            for suffix in ("", "_reverse")[:D]:
                for kind, cols in (("ih", input_size if layer == 0 else H * D), ("hh", H)):
                    name = f"weight_{kind}_l{layer}{suffix}"
                    self.register_buffer(f"{name}_int8", Tensor(np.zeros((4 * H, cols), np.int8)))
                    self.register_buffer(f"{name}_scale", Tensor(np.ones(4 * H, np.float32)))
                    bias_name = f"bias_{kind}_l{layer}{suffix}"
                    self.register_buffer(bias_name, Tensor(np.zeros(4 * H, np.float32)) if bias else None)

    @classmethod
    def from_float(cls, mod: nn.LSTM) -> LSTM:
        if getattr(mod, "proj_size", 0):
            raise ValueError("dynamic quantized LSTM: proj_size is not supported")
        q = cls(mod.input_size, mod.hidden_size, mod.num_layers, mod.bias, mod.batch_first, mod.bidirectional)
        for name, param in mod.named_parameters():
            if name.startswith("weight_"):
                int_weight, scale = quantize_weight(param, _weight_observer(mod))
                getattr(q, f"{name}_int8").array, getattr(q, f"{name}_scale").array = int_weight, scale
            else:
                getattr(q, name).array = param.detach().array.astype(np.float32)
        return q

    def _project(self, be: Any, x: Any, name: str) -> Any:
        """x (M, K) W^T + b through int8, float32 (M, 4H)."""
        bias = self._buffers[name.replace("weight", "bias")]
        return linear_dynamic(be, x, self._buffers[f"{name}_int8"].array, self._buffers[f"{name}_scale"].array,
                              None if bias is None else bias.array)

    def _direction(self, be: Any, x: Any, layer: int, suffix: str, h: Any, c: Any) -> tuple[Any, Any, Any]:
        T, B, _ = x.shape
        gates_x = self._project(be, x.reshape(T * B, -1), f"weight_ih_l{layer}{suffix}").reshape(T, B, -1)
        steps = range(T - 1, -1, -1) if suffix else range(T)
        out = be.xp.empty((T, B, self.hidden_size), np.float32)
        for t in steps:
            z = gates_x[t] + self._project(be, h, f"weight_hh_l{layer}{suffix}")
            h, c, _ = be.lstm_cell_forward(z, c)
            out[t] = h
        return out, h, c

    def forward(self, input: Tensor, hx: Any = None) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        x = _float(input, "dynamic quantized LSTM")
        be, xp = x.backend, x.backend.xp
        batched = x.dim() == 3
        a = x.array.astype(np.float32)
        a = (a.swapaxes(0, 1) if self.batch_first else a) if batched else a[:, None, :]
        if a.shape[-1] != self.input_size:
            raise ValueError(f"dynamic quantized LSTM: input has {a.shape[-1]} features (shape {tuple(x.shape)}), "
                             f"expected {self.input_size}")
        D, B, H = 2 if self.bidirectional else 1, a.shape[1], self.hidden_size
        if hx is None:
            h0 = c0 = xp.zeros((self.num_layers * D, B, H), np.float32)
        else:
            h0, c0 = (s.array.astype(np.float32) if batched else s.array[:, None, :].astype(np.float32) for s in hx)
        hs, cs = [], []
        for layer in range(self.num_layers):
            outs = []
            for d, suffix in enumerate(("", "_reverse")[:D]):
                out, h, c = self._direction(be, a, layer, suffix, h0[layer * D + d], c0[layer * D + d])
                outs.append(out)
                hs.append(h)
                cs.append(c)
            a = outs[0] if D == 1 else xp.concatenate(outs, axis=-1)
        out = (a.swapaxes(0, 1) if self.batch_first else a) if batched else a[:, 0]
        h_n, c_n = xp.stack(hs), xp.stack(cs)
        if not batched:
            h_n, c_n = h_n[:, 0], c_n[:, 0]
        out, h_n, c_n = (Tensor._wrap(xp.ascontiguousarray(a), be, False) for a in (out, h_n, c_n))
        return out, (h_n, c_n)

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if self.batch_first:
            s += ", batch_first=True"
        if self.bidirectional:
            s += ", bidirectional=True"
        return s + ", dtype=minidl.qint8"
