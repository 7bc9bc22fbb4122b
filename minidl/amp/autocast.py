"""``autocast``: run the ops that gain from it in a 16-bit float, the rest in float32.

Inside ``with minidl.autocast("cpu", dtype=minidl.bfloat16):`` every op whose Function class sets
``autocast`` has its floating inputs cast before it runs:

* ``"lower"`` (matmul, linear, conv1d/conv2d, conv_transpose2d, scaled_dot_product_attention, einsum):
  float32 inputs are cast to the autocast dtype. These are the ops where almost all the arithmetic is:
  products summed in long dot products, which the kernels accumulate in float32 anyway.
* ``"float32"`` (cross_entropy / nll_loss): 16-bit inputs are cast up to float32 on every device.
* ``"float32_cuda"`` (softmax, log_softmax, layer_norm): cast up to float32 under ``autocast("cuda")``
  only. On the CPU they run in their input's dtype, as in PyTorch, whose CPU kernels (and minidl's,
  ``backends.base.accumulation_dtype``) add up sums and statistics of 16-bit inputs in float32 anyway.

Every other op runs in the dtype of its inputs; a binary op on a float32 and a bfloat16 tensor promotes
to float32 (``minidl.promote_types``). float64 inputs are never cast, as in PyTorch.

The lists follow PyTorch's (``aten/src/ATen/autocast_mode.cpp`` and the "Autocast Op Reference" of
https://pytorch.org/docs/stable/amp.html): CPU ``lower_precision_fp`` holds conv1d/2d/3d, bmm, mm,
baddbmm, addmm, linear, matmul, conv_transpose1d/2d/3d, prelu and scaled_dot_product_attention; CPU
``fp32`` holds the losses (nll_loss, cross_entropy, mse_loss, l1_loss, kl_div, ...) among others; CUDA's
``fp32`` list adds softmax, log_softmax, layer_norm, group_norm, exp, log, pow and sum.

How it is built: one context variable (``autograd._autocast``) holds the casting rule while a block is
active, and ``Function.__call__`` reads it only for classes that set ``autocast``: no global switch, and
an op without a policy pays one class-attribute read. The cast is the differentiable ``Tensor.to`` copy,
so gradients flow back through it and reach float32 parameters (master weights) in float32. The backward
walk turns autocast off: backward runs in the dtypes that forward chose.

>>> import minidl
>>> x, w = minidl.randn(4, 8), minidl.randn(3, 8, requires_grad=True)
>>> with minidl.autocast("cpu", dtype=minidl.bfloat16):
...     y = minidl.nn.functional.linear(x, w)
>>> y.dtype, w.dtype
(dtype(bfloat16), dtype('float32'))
>>> y.float().sum().backward()
>>> w.grad.dtype
dtype('float32')
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np

from minidl.autograd import Function, _autocast
from minidl.dtypes import BFLOAT16, LOW_PRECISION, is_floating_point
from minidl.errors import DTypeError
from minidl.ops.shape import astype
from minidl.tensor import Tensor

_FLOAT32 = np.dtype(np.float32)
_DEFAULT_DTYPE = {"cpu": BFLOAT16, "cuda": np.dtype(np.float16)}  # PyTorch's defaults per device type


class _Casting:
    """The rule an active ``autocast`` block applies: which dtype each op's inputs are cast to."""

    def __init__(self, device_type: str, dtype: np.dtype) -> None:
        self.device_type, self.dtype = device_type, dtype
        self.on_gpu = device_type == "cuda"

    def __call__(self, f: Function, inputs: tuple[Any, ...]) -> tuple[Any, ...]:
        policy = f.autocast
        first = next(t for t in inputs if isinstance(t, Tensor))
        if first.backend.is_gpu != self.on_gpu:  # autocast("cuda") leaves CPU tensors alone, and the reverse
            if policy == "lower":
                _check_one_dtype(f, inputs)
            return inputs
        if policy == "lower":
            eligible, target = (_FLOAT32, *LOW_PRECISION), self.dtype
        elif policy == "float32" or (policy == "float32_cuda" and self.on_gpu):
            eligible, target = LOW_PRECISION, _FLOAT32
        else:
            return inputs
        cast = tuple(astype(t, target) if isinstance(t, Tensor) and t.dtype in eligible else t for t in inputs)
        if policy == "lower":
            _check_one_dtype(f, cast)
        return cast

    def __repr__(self) -> str:
        return f"autocast(device_type={self.device_type!r}, dtype={self.dtype})"


def _check_one_dtype(f: Function, inputs: tuple[Any, ...]) -> None:
    """A low-precision op whose floating inputs still differ (float64 is never cast) is refused, as in PyTorch."""
    dtypes = {t.dtype for t in inputs if isinstance(t, Tensor) and is_floating_point(t.dtype)}
    if len(dtypes) > 1:
        names = ", ".join(f"input {i} {t.dtype}" for i, t in enumerate(inputs) if isinstance(t, Tensor))
        raise DTypeError(f"{f.name} under autocast: got {names}; expected one dtype. autocast casts neither float64 "
                         f"nor tensors of the other device type; convert with .float() or .to(...) first")


class autocast:
    """Context manager and decorator (``torch.autocast`` / ``torch.amp.autocast``): mixed precision in a block.

    ``device_type`` is ``"cpu"`` (tensors on the numpy/numba backends) or ``"cuda"`` (cupy/numba-cuda);
    ``dtype`` is ``minidl.float16`` or ``minidl.bfloat16`` (default: bfloat16 on the CPU, float16 on
    CUDA, as PyTorch); ``enabled=False`` turns autocast off inside the block (also inside an outer one).
    ``cache_enabled`` is accepted for PyTorch's signature; minidl casts a weight again at each use.

    Parameters are not touched: they stay float32 (the master weights), each op casts what it reads.
    Use ``minidl.amp.GradScaler`` with float16, whose small range underflows small gradients.
    """

    def __init__(self, device_type: str, dtype: Any = None, enabled: bool = True,
                 cache_enabled: bool | None = None) -> None:
        if device_type not in _DEFAULT_DTYPE:
            raise ValueError(f"autocast: device_type must be 'cpu' or 'cuda', got {device_type!r}")
        dtype = _DEFAULT_DTYPE[device_type] if dtype is None else np.dtype(dtype)
        if dtype not in LOW_PRECISION:
            raise DTypeError(f"autocast: dtype must be minidl.float16 or minidl.bfloat16, got {dtype}")
        self.device_type, self.fast_dtype, self.enabled = device_type, dtype, bool(enabled)
        self._tokens: list[Any] = []

    def __enter__(self) -> autocast:
        self._tokens.append(_autocast.set(_Casting(self.device_type, self.fast_dtype) if self.enabled else None))
        return self

    def __exit__(self, *exc: object) -> None:
        _autocast.reset(self._tokens.pop())

    def __call__(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        device_type, dtype, enabled = self.device_type, self.fast_dtype, self.enabled

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with autocast(device_type, dtype, enabled):
                return fn(*args, **kwargs)

        return wrapper


def get_autocast_dtype(device_type: str) -> np.dtype:
    """The dtype autocast computes in for ``device_type`` now (its default outside a block), as PyTorch's."""
    casting = _autocast.get()
    if casting is not None and casting.device_type == device_type:
        return casting.dtype
    return _DEFAULT_DTYPE[device_type]
