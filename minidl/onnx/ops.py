"""Op converters: one minidl ``Function`` (as recorded in the autograd graph) -> ONNX nodes.

These cover the tensor ops a user's ``forward`` runs between layers (``x + y``, ``x @ w``,
``x.view(n, -1)``, ``x.permute(...)``, ``cat``, ``x[:, -1]``, ``mean``, ``F.relu``, ...) and the functional
forms of layers (``F.conv2d``, ``F.max_pool2d``, ``F.layer_norm``, ``F.embedding``, ...).

A converter is ``convert(tracer, fn, inputs) -> name or [names]``: ``inputs`` are the ONNX names of
``fn.inputs``; the traced shapes are ``fn.inputs[i].shape`` and ``fn._output_meta[i]``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from minidl.onnx.graph import reshape_target
from minidl.ops import activation, elementwise, embedding, matmul, norm, reduce, shape, softmax
from minidl.ops import attention as attention_ops
from minidl.ops import conv as conv_ops
from minidl.ops import index as index_ops
from minidl.ops import pool as pool_ops

INT_MAX = np.iinfo(np.int64).max


def _out_dtype(fn: Any, i: int = 0) -> np.dtype:
    return np.dtype(fn._output_meta[i][1])


def _same_dtype(tr: Any, fn: Any, ins: list[str]) -> list[str]:
    """Cast inputs to the output's dtype where PyTorch's promotion changed it (ONNX ops need one dtype)."""
    want = _out_dtype(fn)
    return [n if np.dtype(t.dtype) == want else tr.g.cast(n, want) for n, t in zip(ins, fn.inputs)]


def _unary(op: str, **attrs: Any) -> Any:
    return lambda tr, fn, ins: tr.g.node(op, ins[:1], **attrs)


def _binary(op: str) -> Any:
    return lambda tr, fn, ins: tr.g.node(op, _same_dtype(tr, fn, ins))


def gelu(g: Any, x: str, dtype: Any, approximate: str) -> str:
    """x Phi(x) = x (1 + erf(x / sqrt 2)) / 2, or the tanh formula (no Gelu op before opset 20)."""
    c = lambda v: g.scalar(v, dtype)  # noqa: E731
    if approximate == "tanh":
        inner = g.node("Mul", [g.node("Add", [x, g.node("Mul", [g.node("Pow", [x, c(3.0)]), c(0.044715)])]),
                               c(math.sqrt(2 / math.pi))])
        phi = g.node("Add", [g.node("Tanh", [inner]), c(1.0)])
    else:
        phi = g.node("Add", [g.node("Erf", [g.node("Div", [x, c(math.sqrt(2.0))])]), c(1.0)])
    return g.node("Mul", [g.node("Mul", [x, phi]), c(0.5)])


def softplus(g: Any, x: str, dtype: Any, beta: float) -> str:
    """log(1 + exp(beta x)) / beta (the threshold only avoids overflow: the ONNX op is stable)."""
    if beta == 1:
        return g.node("Softplus", [x])
    return g.node("Div", [g.node("Softplus", [g.node("Mul", [x, g.scalar(beta, dtype)])]), g.scalar(beta, dtype)])


def _clip(tr: Any, fn: Any, ins: list[str]) -> str:
    dtype = _out_dtype(fn)
    bounds = ["" if v is None else tr.g.scalar(v, dtype) for v in (fn.lo, fn.hi)]
    return tr.g.node("Clip", [ins[0], *bounds])


def _where(tr: Any, fn: Any, ins: list[str]) -> str:
    cond = tr.array(fn.cond, fn.inputs[0])
    return tr.g.node("Where", [cond, *_same_dtype(tr, fn, ins)])


def _reshape(tr: Any, fn: Any, ins: list[str]) -> str:
    return tr.g.reshape(ins[0], reshape_target(tuple(fn.inputs[0].shape), tuple(fn._output_meta[0][0])))


def _broadcast(tr: Any, fn: Any, ins: list[str]) -> str:
    """Expand: a size that is already the input's stays 1 in the target, so a dynamic axis stays dynamic."""
    src, dst = tuple(fn.inputs[0].shape), tuple(fn.shape)
    lead = len(dst) - len(src)
    target = [1 if i >= lead and src[i - lead] == n else n for i, n in enumerate(dst)]
    return tr.g.node("Expand", [ins[0], tr.g.ints(target)])


def _split(tr: Any, fn: Any, ins: list[str]) -> list[str]:
    out = tr.g.node("Split", [ins[0], tr.g.ints(fn.sizes)], outputs=len(fn.sizes), axis=fn.axis)
    return out if isinstance(out, list) else [out]


def _pad(tr: Any, fn: Any, ins: list[str]) -> str:
    pads = [lo for lo, _ in fn.pad_width] + [hi for _, hi in fn.pad_width]
    return tr.g.node("Pad", [ins[0], tr.g.ints(pads), tr.g.scalar(fn.value, _out_dtype(fn))], mode="constant")


def getitem(tr: Any, fn: Any, ins: list[str]) -> str:
    """x[index]: Slice for the slices, Squeeze for the ints, Unsqueeze for None; one integer array -> Gather."""
    g, x, shape_in = tr.g, ins[0], tuple(fn.inputs[0].shape)
    index = fn.index if isinstance(fn.index, tuple) else (fn.index,)
    arrays = [i for i, p in enumerate(index) if not (isinstance(p, int | slice) or p is None or p is Ellipsis)]
    if arrays:
        return _gather(tr, fn, x, index, arrays, shape_in)
    if Ellipsis in index:
        k = index.index(Ellipsis)
        used = sum(p is not None for p in index if p is not Ellipsis)
        index = index[:k] + (slice(None),) * (len(shape_in) - used) + index[k + 1:]
    starts, ends, axes, steps, squeeze, unsqueeze = [], [], [], [], [], []
    axis = out_axis = 0
    for p in index:
        if p is None:
            unsqueeze.append(out_axis)
            out_axis += 1
            continue
        if isinstance(p, int):
            p = p + shape_in[axis] if p < 0 else p
            starts, ends, axes, steps = starts + [p], ends + [p + 1], axes + [axis], steps + [1]
            squeeze.append(axis)
        elif p != slice(None):
            step = 1 if p.step is None else p.step
            start = p.start if p.start is not None else (0 if step > 0 else -1)
            stop = p.stop if p.stop is not None else (INT_MAX if step > 0 else -INT_MAX)
            starts, ends, axes, steps = starts + [start], ends + [stop], axes + [axis], steps + [step]
            out_axis += 1
        else:
            out_axis += 1
        axis += 1
    if axes:
        x = g.node("Slice", [x, g.ints(starts), g.ints(ends), g.ints(axes), g.ints(steps)])
    if squeeze:
        x = g.squeeze(x, squeeze)
    if unsqueeze:
        x = g.unsqueeze(x, unsqueeze)
    return x if x != ins[0] else g.node("Identity", [x])


def _gather(tr: Any, fn: Any, x: str, index: tuple[Any, ...], arrays: list[int], shape_in: tuple[int, ...]) -> str:
    """x[:, idx] with one integer array and full slices elsewhere: Gather along that axis."""
    k = arrays[0]
    idx = index[k]
    if len(arrays) > 1 or np.dtype(idx.dtype).kind not in "iu" or Ellipsis in index or \
            any(p is not None and p != slice(None) for i, p in enumerate(index) if i != k) or None in index:
        raise _unsupported("GetItem", f"the index {index!r} (one integer array, full slices elsewhere, is supported)")
    name = tr.array(idx, fn.inputs[0])
    if np.dtype(idx.dtype) != np.int64:
        name = tr.g.cast(name, np.int64)
    return tr.g.node("Gather", [x, name], axis=k)


def _unsupported(op: str, what: str) -> Exception:
    from minidl.onnx.errors import UnsupportedOperatorError

    return UnsupportedOperatorError(f"minidl.onnx.export: {op} with {what} has no ONNX converter")


def _sum(tr: Any, fn: Any, ins: list[str]) -> str:
    shape_in = tuple(fn.inputs[0].shape)
    n = math.prod(shape_in[a] for a in fn.axes)
    if fn.scale != 1.0 and math.isclose(fn.scale * n, 1.0, rel_tol=1e-12):  # a mean: no fixed 1/n in the file
        return tr.g.reduce("ReduceMean", ins[0], list(fn.axes), fn.keepdims)
    y = tr.g.reduce("ReduceSum", ins[0], list(fn.axes), fn.keepdims)
    return y if fn.scale == 1.0 else tr.g.node("Mul", [y, tr.g.scalar(fn.scale, _out_dtype(fn))])


def _copy(tr: Any, fn: Any, ins: list[str]) -> str:
    want = _out_dtype(fn)
    return tr.g.cast(ins[0], want) if np.dtype(fn.inputs[0].dtype) != want else tr.g.node("Identity", ins)


def _conv(tr: Any, fn: Any, ins: list[str]) -> str:
    stride, padding, dilation, groups = fn.geometry.args()
    k = tuple(fn.inputs[1].shape[2:])
    return tr.g.node("Conv", ins, kernel_shape=list(k), strides=list(stride), pads=list(padding) * 2,
                     dilations=list(dilation), group=groups)


def _maxpool(tr: Any, fn: Any, ins: list[str]) -> str:
    k, s, p = fn.args[:3]
    return tr.g.node("MaxPool", ins, kernel_shape=list(k), strides=list(s), pads=list(p) * 2)


def _avgpool(tr: Any, fn: Any, ins: list[str]) -> str:
    k, s, p, count_include_pad = fn.args[:4]
    return tr.g.node("AveragePool", ins, kernel_shape=list(k), strides=list(s), pads=list(p) * 2,
                     count_include_pad=int(count_include_pad))


def _params(tr: Any, fn: Any, ins: list[str], n: int) -> tuple[str, str]:
    """The (scale, bias) inputs of a norm op: given ones, or ones / zeros of size n."""
    dtype, rest = _out_dtype(fn), list(ins[1:])
    w = rest.pop(0) if fn.has_weight else tr.g.initializer(np.ones(n, dtype))
    b = rest.pop(0) if fn.has_bias else tr.g.initializer(np.zeros(n, dtype))
    return w, b


def layer_norm(g: Any, x: str, w: str, b: str, eps: float, axis: int, dtype: Any) -> str:
    """LayerNormalization from opset 17; before it, the formula with ReduceMean."""
    if g.opset >= 17:
        return g.node("LayerNormalization", [x, w, b], axis=axis, epsilon=float(eps))
    axes = list(range(axis, 0))
    xc = g.node("Sub", [x, g.reduce("ReduceMean", x, axes, True)])
    var = g.reduce("ReduceMean", g.node("Mul", [xc, xc]), axes, True)
    y = g.node("Div", [xc, g.node("Sqrt", [g.node("Add", [var, g.scalar(eps, dtype)])])])
    return g.node("Add", [g.node("Mul", [y, w]), b])


def _layer_norm(tr: Any, fn: Any, ins: list[str]) -> str:
    w, b = _params(tr, fn, ins, fn.inputs[0].shape[-1])
    return layer_norm(tr.g, ins[0], w, b, fn.eps, -1, _out_dtype(fn))


def _embedding(tr: Any, fn: Any, ins: list[str]) -> str:
    ids = tr.array(fn.indices, fn.inputs[0])
    if np.dtype(fn.indices.dtype) != np.int64:
        ids = tr.g.cast(ids, np.int64)
    return tr.g.node("Gather", [ins[0], ids], axis=0)


def _sdpa(tr: Any, fn: Any, ins: list[str]) -> str:
    from minidl.onnx.attention import attention

    q, k = fn.inputs[0], fn.inputs[1]
    mask = None if fn.mask is None else tr.array(fn.mask, q)
    if fn.keep is not None:
        raise _unsupported("scaled_dot_product_attention", "dropout_p > 0 (pass 0.0 for export)")
    return attention(tr.g, ins[0], ins[1], ins[2], q.ndim, fn.scale, mask,
                     (q.shape[-2], k.shape[-2]) if fn.is_causal else None, _out_dtype(fn))[0]


def _einsum(tr: Any, fn: Any, ins: list[str]) -> str:
    return tr.g.node("Einsum", ins, equation=",".join(fn.in_subs) + "->" + fn.out_sub)


OPS: dict[type, Any] = {
    elementwise.Add: _binary("Add"), elementwise.Sub: _binary("Sub"), elementwise.Mul: _binary("Mul"),
    elementwise.Div: _binary("Div"), elementwise.Pow: _binary("Pow"),
    elementwise.Maximum: _binary("Max"), elementwise.Minimum: _binary("Min"),
    elementwise.PowScalar: lambda tr, fn, ins: tr.g.node("Pow", [ins[0], tr.g.scalar(fn.c, _out_dtype(fn))]),
    elementwise.Neg: _unary("Neg"), elementwise.Abs: _unary("Abs"), elementwise.Exp: _unary("Exp"),
    elementwise.Log: _unary("Log"), elementwise.Sqrt: _unary("Sqrt"), elementwise.Sin: _unary("Sin"),
    elementwise.Cos: _unary("Cos"), elementwise.TanhFunction: _unary("Tanh"),
    elementwise.SigmoidFunction: _unary("Sigmoid"),
    elementwise.Relu: _unary("Relu"), activation.Erf: _unary("Erf"),
    elementwise.Log1p: lambda tr, fn, ins: tr.g.node("Log", [tr.g.node("Add", [ins[0],
                                                                                tr.g.scalar(1, _out_dtype(fn))])]),
    elementwise.Clip: _clip, elementwise.Where: _where,
    elementwise.Mask: lambda tr, fn, ins: tr.g.node("Mul", [ins[0], tr.array(fn.mask, fn.inputs[0])]),
    activation.LeakyReLUFunction: lambda tr, fn, ins: tr.g.node("LeakyRelu", ins, alpha=float(fn.negative_slope)),
    activation.ELUFunction: lambda tr, fn, ins: tr.g.node("Elu", ins, alpha=float(fn.alpha)),
    activation.GELUFunction: lambda tr, fn, ins: gelu(tr.g, ins[0], _out_dtype(fn), fn.approximate),
    activation.SiLUFunction: lambda tr, fn, ins: tr.g.node("Mul", [ins[0], tr.g.node("Sigmoid", ins)]),
    activation.SoftplusFunction: lambda tr, fn, ins: softplus(tr.g, ins[0], _out_dtype(fn), fn.beta),
    softmax.SoftmaxFunction: lambda tr, fn, ins: tr.g.node("Softmax", ins, axis=fn.axis),
    softmax.LogSoftmaxFunction: lambda tr, fn, ins: tr.g.node("LogSoftmax", ins, axis=fn.axis),
    matmul.MatMul: _binary("MatMul"),
    matmul.LinearFunction: lambda tr, fn, ins: tr.g.linear(ins[0], ins[1], ins[2] if len(ins) > 2 else None,
                                                           fn.inputs[0].ndim),
    matmul.Einsum: _einsum,
    shape.Reshape: _reshape, shape.Transpose: lambda tr, fn, ins: tr.g.transpose(ins[0], list(fn.axes)),
    shape.BroadcastTo: _broadcast, shape.Concatenate: lambda tr, fn, ins: tr.g.node("Concat", ins, axis=fn.axis),
    shape.Split: _split, shape.Pad: _pad, shape.Copy: _copy, index_ops.GetItem: getitem,
    reduce.Sum: _sum,
    reduce.MaxMin: lambda tr, fn, ins: tr.g.reduce("ReduceMax" if fn.is_max else "ReduceMin", ins[0],
                                                   list(fn.axes), fn.keepdims),
    reduce.LogSumExp: lambda tr, fn, ins: tr.g.reduce("ReduceLogSumExp", ins[0], list(fn.axes), fn.keepdims),
    conv_ops.Conv2dFunction: _conv, pool_ops.MaxPool2dFunction: _maxpool, pool_ops.AvgPool2dFunction: _avgpool,
    norm.LayerNormFunction: _layer_norm, embedding.EmbeddingFunction: _embedding,
    attention_ops.ScaledDotProductAttention: _sdpa,
}
