"""``Linear``: y = x W^T + b, the fully connected layer.

>>> import minidl, minidl.nn as nn
>>> layer = nn.Linear(3, 2)
>>> layer.weight.shape, layer.bias.shape
(minidl.Size([2, 3]), minidl.Size([2]))
>>> layer(minidl.ones(5, 3)).shape
minidl.Size([5, 2])
"""

from __future__ import annotations

import math

from minidl.creation import empty, factory_backend
from minidl.nn import init
from minidl.nn.module import Module
from minidl.nn.parameter import Parameter
from minidl.ops.matmul import linear  # y = x W^T + b as one op (also nn.functional.linear)
from minidl.random import Generator
from minidl.tensor import Tensor


class Linear(Module):
    """y = x W^T + b.  ``weight``: (out_features, in_features), ``bias``: (out_features,).

    PyTorch's default init: W and b ~ U(-1/sqrt(in_features), 1/sqrt(in_features))
    (that is ``kaiming_uniform_(W, a=sqrt(5))``). Pass ``generator=`` for reproducible weights.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, dtype=None, backend=None, device=None,
                 generator: Generator | None = None) -> None:
        backend = factory_backend(backend, device)  # PyTorch's device= or minidl's backend=
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.weight = Parameter(empty(out_features, in_features, dtype=dtype or "float32", backend=backend))
        if bias:
            self.bias = Parameter(empty(out_features, dtype=dtype or "float32", backend=backend))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters(generator)

    def reset_parameters(self, generator: Generator | None = None) -> None:
        init.kaiming_uniform_(self.weight, a=math.sqrt(5), generator=generator)
        if self.bias is not None:
            bound = 1 / math.sqrt(self.in_features) if self.in_features > 0 else 0.0
            init.uniform_(self.bias, -bound, bound, generator)

    def forward(self, x: Tensor) -> Tensor:
        return linear(x, self.weight, self.bias)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"
