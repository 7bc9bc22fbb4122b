"""Differentiable ops, one family per module. Each op is a ``Function`` subclass (the math and its
gradient side by side) plus a plain function that users call.

Names: a Function class is named after what it computes (``Exp``, ``MatMul``, ``GetItem``). Where that
name is also a layer of ``minidl.nn`` (``Conv2d``, ``Linear``, ``LayerNorm``, ``Tanh``, ``LSTMCell``, ...),
the Function carries the suffix ``Function`` (``Conv2dFunction``, ``LinearFunction``,
``LayerNormFunction``, ``TanhFunction``, ``LSTMCellFunction``), so one class name means one class.
A Function that computes another's gradient is ``<Op>Backward`` (or ``InputGrad``/``WeightGrad`` for
conv2d's two). Fused ops (norms, attention, recurrent cells and layers) follow the rule of ``fused.py``.

Importing this package also installs the Tensor's computing methods (``tensor_methods.install``):
``x + y``, ``x.sum(1)``, ``x.transpose(0, 1)`` forward to the ops defined here.
"""

from minidl.ops import (  # noqa: F401
    activation,
    attention,
    compare,
    conv,
    dropout,
    elementwise,
    embedding,
    fused,
    index,
    inplace,
    loss,
    matmul,
    norm,
    padding,
    pool,
    reduce,
    rnn,
    shape,
    softmax,
    sort,
    tensor_methods,
)
from minidl.tensor import Tensor

tensor_methods.install(Tensor)
