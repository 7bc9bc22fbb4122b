"""minidl: a deep learning library written from scratch on NumPy, to read and to use.

>>> import minidl
>>> x = minidl.tensor([1.0, 2.0, 3.0], requires_grad=True)
>>> (x * x).sum().backward()
>>> x.grad
tensor([2., 4., 6.])
"""

from minidl.backends.allocator import tune_malloc  # noqa: I001  (first: see its docstring)

tune_malloc()  # glibc keeps freed activations mapped between steps (MINIDL_MALLOC_TUNING=0 turns this off)

from minidl.tensor import Size, Tensor  # noqa: E402, I001  (Tensor first: the ops import it)
from minidl.autograd import Function, enable_grad, grad, inference_mode, is_grad_enabled, no_grad, set_grad_enabled
from minidl.backends import available as available_backends
from minidl.backends import get_backend, use_backend
from minidl.device import device
from minidl.dtypes import (
    bfloat16, bool, bool_, cdouble, cfloat, complex64, complex128, double, float, float16, float32, float64, half, int,
    int8, int16, int32, int64, long, promote_types, short, uint8,
)
from minidl.creation import (
    arange, as_tensor, empty, empty_like, eye, from_numpy, full, full_like, linspace, multinomial, ones, ones_like,
    rand, rand_like, randint, randn, randn_like, randperm, tensor, zeros, zeros_like,
)
from minidl.errors import BackendMismatchError, BackendUnavailableError, DTypeError, MinidlError, ShapeError
from minidl.ops.compare import (
    all, any, argmax, argmin, bitwise_and, bitwise_or, bitwise_xor, ceil, eq, floor, floor_divide, ge, gt, isfinite,
    isinf, isnan, le, logical_and, logical_not, logical_or, lt, ne, remainder, round, sign, trunc,
)
from minidl.ops.elementwise import (
    abs, add, clamp, clip, cos, div, divide, exp, log, log1p, maximum, minimum, mul, neg, pow, relu, sigmoid, sin,
    sqrt, sub, tanh, where,
)
from minidl.ops.index import gather, index_select, take_along_axis
from minidl.ops.matmul import bmm, dot, einsum, matmul, mm
from minidl.ops.reduce import amax, amin, logsumexp, mean, norm, prod, std, sum, var
from minidl.ops.shape import (
    broadcast_to, cat, chunk, concat, concatenate, expand, flatten, narrow, pad, permute, repeat_interleave, reshape,
    split, squeeze, stack, swapaxes, t, transpose, tril, triu, unbind, unsqueeze, view,
)
from minidl.ops.softmax import log_softmax, softmax
from minidl.ops.sort import argsort, kthvalue, max, median, min, sort, topk
from minidl.random import Generator, manual_seed
from minidl import accelerator, cuda  # noqa: I001  (torch.cuda / torch.accelerator questions)


def is_tensor(obj: object) -> "bool":
    """True for a minidl Tensor (``torch.is_tensor``)."""
    return isinstance(obj, Tensor)


def numel(x: Tensor) -> "int":
    """The number of elements of ``x``."""
    return x.numel()


__version__ = "0.1.0"

from minidl import nn, optim  # noqa: E402, I001  (last: the layers use everything above)
from minidl.io import load, save  # noqa: E402
from minidl import serialization  # noqa: E402, I001  (after io: it uses CheckpointError)
from minidl import train  # noqa: E402  (uses io, nn and optim)
from minidl import utils  # noqa: E402  (torch.utils.data: minidl.utils.data)
from minidl import onnx  # noqa: E402  (torch.onnx; the onnx package itself is imported by export only)
from minidl import profiler  # noqa: E402  (torch.profiler; swaps nothing in until a profile starts)
from minidl import amp  # noqa: E402  (torch.amp: autocast and GradScaler, over the ops)
from minidl.amp import autocast  # noqa: E402  (torch.autocast)
from minidl.autograd import is_autocast_enabled  # noqa: E402
from minidl import ao, quantization  # noqa: E402  (torch.ao and torch.quantization: int8 layers and workflow)
from minidl.quantization import (  # noqa: E402  (torch.qint8, torch.quantize_per_tensor, torch.dequantize, ...)
    dequantize, qint8, qint32, quantize_per_channel, quantize_per_tensor, quint8,
)
