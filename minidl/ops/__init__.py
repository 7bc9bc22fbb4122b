"""Differentiable ops, one family per module. Each op is a ``Function`` subclass (the math and its
gradient side by side) plus a plain function that users call.

Importing this package also installs the Tensor's computing methods (``tensor_methods.install``):
``x + y``, ``x.sum(1)``, ``x.transpose(0, 1)`` forward to the ops defined here.
"""

from minidl.ops import (  # noqa: F401
    compare,
    elementwise,
    index,
    inplace,
    matmul,
    reduce,
    shape,
    softmax,
    sort,
    tensor_methods,
)
from minidl.tensor import Tensor

tensor_methods.install(Tensor)
