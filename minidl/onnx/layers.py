"""Layer converters: one minidl ``nn`` module call -> ONNX nodes, from the module's settings and weights.

A converter is ``convert(tracer, module, path, arguments, out) -> names shaped like out``:
``arguments`` are the forward's arguments by name (defaults filled in), ``out`` what the forward
returned (for shapes), ``path`` the module's name in ``model.named_modules()``. ``tracer.value(t)``
gives the ONNX name of a tensor (an input, an earlier result, or a parameter stored under its
``state_dict`` name).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from minidl import nn
from minidl.onnx.attention import multihead_attention
from minidl.onnx.errors import UnsupportedOperatorError
from minidl.onnx.ops import gelu, layer_norm, softplus
from minidl.onnx.rnn import recurrent


def _n(value: Any, n: int) -> list[int]:
    return list(value) if isinstance(value, tuple | list) else [value] * n


def _opt(tr: Any, t: Any) -> str:
    return "" if t is None else tr.value(t)


def _unsupported(m: Any, what: str) -> UnsupportedOperatorError:
    return UnsupportedOperatorError(f"minidl.onnx.export: {type(m).__name__} with {what} has no ONNX converter")


def _x(a: dict[str, Any]) -> Any:
    return a.get("x", a.get("input"))


def conv(tr: Any, m: Any, path: str, a: dict[str, Any], out: Any) -> str:
    n = len(m.kernel_size)
    if m.padding == "same":
        totals = [d * (k - 1) for k, d in zip(m.kernel_size, m.dilation)]
        pads = [t // 2 for t in totals] + [t - t // 2 for t in totals]  # the odd one extra at the end
    else:
        pads = [0] * 2 * n if m.padding == "valid" else _n(m.padding, n) * 2
    ins = [tr.value(_x(a)), tr.value(m.weight)] + ([tr.value(m.bias)] if m.bias is not None else [])
    return tr.g.node("Conv", ins, kernel_shape=list(m.kernel_size), strides=list(m.stride), pads=pads,
                     dilations=list(m.dilation), group=m.groups)


def _pool_attrs(m: Any, n: int) -> dict[str, Any]:
    return {"kernel_shape": _n(m.kernel_size, n), "strides": _n(m.stride, n), "pads": _n(m.padding, n) * 2,
            "ceil_mode": int(bool(m.ceil_mode))}


def max_pool(tr: Any, m: Any, path: str, a: dict[str, Any], out: Any) -> str:
    if m.return_indices:
        raise _unsupported(m, "return_indices=True")
    n = 2 if isinstance(m, nn.MaxPool2d) else 1
    return tr.g.node("MaxPool", [tr.value(_x(a))], dilations=_n(m.dilation, n), **_pool_attrs(m, n))


def avg_pool(tr: Any, m: Any, path: str, a: dict[str, Any], out: Any) -> str:
    n = 2 if isinstance(m, nn.AvgPool2d) else 1
    y = tr.g.node("AveragePool", [tr.value(_x(a))], count_include_pad=int(bool(m.count_include_pad)),
                  **_pool_attrs(m, n))
    divisor = getattr(m, "divisor_override", None)
    if divisor is not None:
        y = tr.g.node("Mul", [y, tr.g.scalar(np.prod(_n(m.kernel_size, n)) / divisor, out.dtype)])
    return y


def adaptive_avg_pool(tr: Any, m: Any, path: str, a: dict[str, Any], out: Any) -> str:
    """Equal windows: AveragePool (GlobalAveragePool for size 1); else the averaging matrices minidl uses."""
    g, x_t = tr.g, _x(a)
    x, n = tr.value(x_t), x_t.ndim - 2
    sizes, outs = list(x_t.shape[2:]), list(out.shape[2:])
    if outs == [1] * n:
        return g.node("GlobalAveragePool", [x])
    if all(s % o == 0 for s, o in zip(sizes, outs)):
        k = [s // o for s, o in zip(sizes, outs)]
        return g.node("AveragePool", [x], kernel_shape=k, strides=k)
    mats = []
    for s, o in zip(sizes, outs):
        mat = np.zeros((o, s), dtype=out.dtype)
        for i in range(o):
            lo, hi = (i * s) // o, -((-(i + 1) * s) // o)
            mat[i, lo:hi] = 1.0 / (hi - lo)
        mats.append(mat)
    if n == 2:
        x = g.node("MatMul", [g.initializer(mats[0]), x])
    return g.node("MatMul", [x, g.initializer(np.ascontiguousarray(mats[-1].T))])


def batch_norm(tr: Any, m: Any, path: str, a: dict[str, Any], out: Any) -> str:
    if m.running_mean is None:
        raise _unsupported(m, "track_running_stats=False (batch statistics at inference)")
    C, dtype = m.num_features, out.dtype
    w = tr.value(m.weight) if m.weight is not None else tr.g.initializer(np.ones(C, dtype))
    b = tr.value(m.bias) if m.bias is not None else tr.g.initializer(np.zeros(C, dtype))
    return tr.g.node("BatchNormalization", [tr.value(_x(a)), w, b, tr.value(m.running_mean),
                                            tr.value(m.running_var)], epsilon=float(m.eps))


def layer_norm_layer(tr: Any, m: Any, path: str, a: dict[str, Any], out: Any) -> str:
    shape, dtype = tuple(m.normalized_shape), out.dtype
    w = tr.value(m.weight) if m.weight is not None else tr.g.initializer(np.ones(shape, dtype))
    b = tr.value(m.bias) if m.bias is not None else tr.g.initializer(np.zeros(shape, dtype))
    return layer_norm(tr.g, tr.value(_x(a)), w, b, m.eps, -len(shape), dtype)


def flatten(tr: Any, m: Any, path: str, a: dict[str, Any], out: Any) -> str:
    x_t = _x(a)
    s, e = m.start_dim % x_t.ndim, m.end_dim % x_t.ndim
    return tr.g.reshape(tr.value(x_t), [0] * s + [-1] + list(x_t.shape[e + 1:]))


def unflatten(tr: Any, m: Any, path: str, a: dict[str, Any], out: Any) -> str:
    x_t = _x(a)
    d = m.dim % x_t.ndim
    return tr.g.reshape(tr.value(x_t), [0] * d + list(out.shape[d:]))


def embedding(tr: Any, m: Any, path: str, a: dict[str, Any], out: Any) -> str:
    ids = a["input"]
    name = tr.value(ids) if not isinstance(ids, np.ndarray | list) else tr.g.initializer(np.asarray(ids))
    if np.dtype(getattr(ids, "dtype", np.int64)) != np.int64:
        name = tr.g.cast(name, np.int64)
    return tr.g.node("Gather", [tr.value(m.weight), name], axis=0)


def _simple(op: str, **attrs: Any) -> Any:
    return lambda tr, m, path, a, out: tr.g.node(op, [tr.value(_x(a))], **attrs)


LAYERS: dict[type, Any] = {
    nn.Linear: lambda tr, m, path, a, out: tr.g.linear(tr.value(_x(a)), tr.value(m.weight), _opt(tr, m.bias) or None,
                                                       _x(a).ndim),
    nn.Conv1d: conv, nn.Conv2d: conv,
    nn.MaxPool1d: max_pool, nn.MaxPool2d: max_pool, nn.AvgPool1d: avg_pool, nn.AvgPool2d: avg_pool,
    nn.AdaptiveAvgPool1d: adaptive_avg_pool, nn.AdaptiveAvgPool2d: adaptive_avg_pool,
    nn.BatchNorm1d: batch_norm, nn.BatchNorm2d: batch_norm, nn.LayerNorm: layer_norm_layer,
    nn.ReLU: _simple("Relu"), nn.Tanh: _simple("Tanh"), nn.Sigmoid: _simple("Sigmoid"),
    nn.GELU: lambda tr, m, path, a, out: gelu(tr.g, tr.value(_x(a)), out.dtype, m.approximate),
    nn.SiLU: lambda tr, m, path, a, out: tr.g.node("Mul", [tr.value(_x(a)), tr.g.node("Sigmoid", [tr.value(_x(a))])]),
    nn.LeakyReLU: lambda tr, m, path, a, out: tr.g.node("LeakyRelu", [tr.value(_x(a))], alpha=float(m.negative_slope)),
    nn.ELU: lambda tr, m, path, a, out: tr.g.node("Elu", [tr.value(_x(a))], alpha=float(m.alpha)),
    nn.Softplus: lambda tr, m, path, a, out: softplus(tr.g, tr.value(_x(a)), out.dtype, m.beta),
    nn.Softmax: lambda tr, m, path, a, out: tr.g.node("Softmax", [tr.value(_x(a))], axis=m.dim),
    nn.LogSoftmax: lambda tr, m, path, a, out: tr.g.node("LogSoftmax", [tr.value(_x(a))], axis=m.dim),
    nn.Dropout: _simple("Identity"), nn.Dropout1d: _simple("Identity"), nn.Dropout2d: _simple("Identity"),
    nn.Flatten: flatten, nn.Unflatten: unflatten, nn.Embedding: embedding,
    nn.RNN: recurrent, nn.LSTM: recurrent, nn.GRU: recurrent,
    nn.MultiheadAttention: multihead_attention,
}
