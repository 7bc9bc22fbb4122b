"""minidl: a deep learning library written from scratch on NumPy, to read and to use.

>>> import minidl
>>> x = minidl.tensor([1.0, 2.0, 3.0], requires_grad=True)
>>> (x * x).sum().backward()
>>> x.grad
tensor([2., 4., 6.])
"""

from minidl.backends.allocator import tune_malloc  # noqa: I001  (first: see its docstring)

tune_malloc()  # glibc keeps freed activations mapped between steps (MINIDL_MALLOC_TUNING=0 turns this off)

from minidl.tensor import Tensor  # noqa: E402, I001  (Tensor first: the ops import it)
from minidl.autograd import Function, enable_grad, grad, is_grad_enabled, no_grad, set_grad_enabled
from minidl.backends import available as available_backends
from minidl.backends import get_backend, use_backend
from minidl.creation import (
    arange, as_tensor, bool_, empty, empty_like, eye, float16, float32, float64, from_numpy, full, full_like,
    int32, int64, linspace, ones, ones_like, rand, rand_like, randint, randn, randn_like, randperm, tensor,
    zeros, zeros_like,
)
from minidl.errors import BackendMismatchError, BackendUnavailableError, DTypeError, MinidlError, ShapeError
from minidl.ops.compare import argmax, argmin, eq, ge, gt, le, logical_not, lt, ne
from minidl.ops.elementwise import (
    abs, add, clamp, clip, cos, div, exp, log, log1p, maximum, minimum, mul, neg, pow, relu, sigmoid, sin, sqrt,
    sub, tanh, where,
)
from minidl.ops.index import gather, take_along_axis
from minidl.ops.matmul import einsum, matmul
from minidl.ops.reduce import logsumexp, max, mean, min, std, sum, var
from minidl.ops.shape import (
    broadcast_to, cat, chunk, concat, concatenate, expand, flatten, pad, permute, reshape, split, squeeze, stack,
    swapaxes, transpose, unsqueeze, view,
)
from minidl.ops.softmax import log_softmax, softmax
from minidl.random import Generator, manual_seed

__version__ = "0.1.0"

from minidl import nn, optim  # noqa: E402, I001  (last: the layers use everything above)
from minidl.io import load, save  # noqa: E402
from minidl import serialization  # noqa: E402, I001  (after io: it uses CheckpointError)
from minidl import train  # noqa: E402  (uses io, nn and optim)
