"""Export a model, run the file in onnxruntime on a batch of another size, compare with minidl."""

from __future__ import annotations

import io

import numpy as np
import pytest

import minidl
from minidl.onnx import export

ort = pytest.importorskip("onnxruntime")


def flat(value):
    if isinstance(value, minidl.Tensor):
        return [value.detach().numpy()]
    if isinstance(value, tuple | list):
        return [a for v in value for a in flat(v)]
    return []


def check(model, make, batch_axes=(0,), out_batch_axes=None, opset=17, rtol=1e-5, atol=1e-5):
    """Export on ``make(2)``, run on ``make(3)``; ``batch_axes``: the batch axis of each input (None: fixed).

    Returns the largest absolute difference between onnxruntime and minidl.
    """
    args = make(2)
    args = args if isinstance(args, tuple) else (args,)
    names = [f"in{i}" for i in range(len(args))]
    dynamic = {n: {a: "batch"} for n, a in zip(names, batch_axes) if a is not None}
    model.eval()
    with minidl.no_grad():
        want_shape = flat(model(*args))
    outs = [f"out{i}" for i in range(len(want_shape))]
    axes = out_batch_axes if out_batch_axes is not None else [0] * len(outs)
    dynamic.update({n: {a: "batch"} for n, a in zip(outs, axes) if a is not None})
    buf = io.BytesIO()
    export(model, args, buf, input_names=names, output_names=outs, dynamic_axes=dynamic, opset_version=opset)
    session = ort.InferenceSession(buf.getvalue(), providers=["CPUExecutionProvider"])
    new = make(3)
    new = new if isinstance(new, tuple) else (new,)
    with minidl.no_grad():
        want = flat(model(*new))
    got = session.run(None, {n: t.numpy() for n, t in zip(names, new)})
    assert len(got) == len(want)
    worst = 0.0
    for g, w in zip(got, want):
        assert g.shape == w.shape and g.dtype == w.dtype
        np.testing.assert_allclose(g, w, rtol=rtol, atol=atol)
        worst = max(worst, float(np.abs(g - w).max()))
    return worst


@pytest.fixture(name="check")
def check_fixture():
    return check
