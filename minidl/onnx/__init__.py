"""``minidl.onnx.export``: write a model as an ONNX graph (PyTorch's ``torch.onnx.export``).

```python
import minidl, minidl.nn as nn
model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
minidl.onnx.export(model, minidl.randn(1, 4), "mlp.onnx", input_names=["x"], output_names=["y"],
                   dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}})
# onnxruntime.InferenceSession("mlp.onnx").run(None, {"x": x_numpy})
```

How it works: the model runs **once** on the example ``args`` (in eval mode), and what runs is written
down, at two levels (``trace.py`` has the details):

1. **Layers** (``layers.py``): each ``nn`` layer with a converter - Linear, Conv1d/Conv2d (groups,
   dilation, padding, "same"), MaxPool/AvgPool/AdaptiveAvgPool 1d/2d, BatchNorm1d/2d (running
   statistics), LayerNorm, ReLU, GELU, Tanh, Sigmoid, SiLU, LeakyReLU, ELU, Softplus, Softmax,
   LogSoftmax, Dropout (the identity), Flatten/Unflatten, Embedding, RNN/LSTM/GRU (ONNX's recurrent
   ops, gates reordered: ``rnn.py``), MultiheadAttention (MatMul/Softmax: ``attention.py``) - becomes its
   ONNX nodes, written from the module's settings and weights. Module wrappers on the model's own
   instances see these calls; what runs inside a converted layer is not looked at.
2. **Ops** (``ops.py``): everything between layers - a user's ``forward`` doing ``x + y``, ``x @ w``,
   ``x.view(n, -1)``, ``permute``, ``cat``, ``x[:, -1]``, ``mean``, ``F.relu``, ``F.max_pool2d``,
   ``F.layer_norm``, ... - is read from the autograd graph that the run records (the inputs and
   weights require grad during the trace), one converter per ``Function``.

Containers (Sequential, ModuleList), TransformerEncoderLayer/TransformerEncoder and the user's own
modules need no converter: their layers and ops convert themselves. A layer or op without a converter
raises ``UnsupportedOperatorError`` naming it and the module it ran in.

Why a trace and not a per-layer table alone: models are Python code, and the ops between layers (a
residual ``+``, a ``view``) are as much part of them as the layers. Why layers as well and not ops
alone: a layer maps onto ONNX's own op (an LSTM node, a Conv node) more directly than the fused
kernels it runs, and its settings are PyTorch's public attributes.

What a trace cannot see, and so exports as fixed: Python control flow (the branch taken on the example
is the one exported), sizes read with ``x.shape`` (reshapes keep leading axes that they do not change
dynamic, so a dynamic batch axis works), masks and constants made from arrays, and ops run on integer
inputs or under ``no_grad`` outside a converted layer (they are not recorded; an output computed that
way is refused). Export with the sequence length the model will see, and mark the batch axis in
``dynamic_axes``.

The ``onnx`` package (the ``onnx`` extra) is imported by ``export`` only; ``import minidl`` does not need it.
"""

from __future__ import annotations

from minidl.onnx.errors import UnsupportedOperatorError
from minidl.onnx.exporter import export

__all__ = ["UnsupportedOperatorError", "export"]
