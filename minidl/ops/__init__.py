"""Differentiable ops, one family per module. Each op is a ``Function`` subclass (the math and its
gradient side by side) plus a plain function that users call."""

from minidl.ops import compare, elementwise, index, inplace, matmul, reduce, shape, softmax, sort  # noqa: F401
