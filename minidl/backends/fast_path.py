"""Fast paths: a backend's faster kernel, declared together with the one condition under which it runs.

The NumPy backend is the reference for every kernel. A faster backend (Numba, CuPy, Numba-CUDA) overrides
a kernel only for the inputs its compiled loop handles: some dtypes, some layouts, some shapes. Everything
else must still work, so it goes to the reference, which also raises the errors on bad input. Instead of a
guard plus ``return super().kernel(...)`` at the top of every override, each override declares its condition:

    @fast_path(lambda x, axis: x.dtype in FLOATS and axis in (-1, x.ndim - 1))
    def softmax(self, x, axis):
        ...  # the fast kernel alone: it can assume the condition holds

``applies`` receives the kernel's arguments (without ``self``) exactly as the caller passed them and returns
whether the fast kernel handles them. The decorated method keeps both parts reachable for tests and learners:
``NumbaBackend.softmax.applies`` (the condition) and ``NumbaBackend.softmax.fast`` (the kernel alone), so a
test can check that its inputs really reach the fast kernel rather than the reference.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np

from minidl.backends.numpy_backend import NumpyBackend
from minidl.dtypes import LOW_PRECISION


def fast_path(applies: Callable[..., bool], *,
              low_precision: bool = False) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Declare a kernel override that runs when ``applies(*args, **kwargs)`` holds; the NumPy reference
    kernel of the same name runs otherwise.

    ``low_precision=True`` (for kernels whose inputs are only read and whose outputs are new arrays): float16
    and bfloat16 arrays, which compiled float32/float64 loops cannot take, are copied to float32, the fast
    kernel runs on the copies if its condition holds for them, and its float32 results are rounded back to the
    16-bit dtype, once (the same accumulation in float32 as the reference's)."""

    def declare(fast: Callable[..., Any]) -> Callable[..., Any]:
        reference = getattr(NumpyBackend, fast.__name__)  # an override of a kernel the reference lacks is a bug

        @functools.wraps(fast)
        def kernel(self: Any, *args: Any, **kwargs: Any) -> Any:
            if applies(*args, **kwargs):
                return fast(self, *args, **kwargs)
            if low_precision:
                low = next((a.dtype for a in args if getattr(a, "dtype", None) in LOW_PRECISION), None)
                if low is not None:
                    args32 = [a.astype(np.float32) if getattr(a, "dtype", None) in LOW_PRECISION else a for a in args]
                    if applies(*args32, **kwargs):
                        return _round_to(fast(self, *args32, **kwargs), low)
            return reference(self, *args, **kwargs)

        kernel.applies = applies  # type: ignore[attr-defined]
        kernel.fast = fast  # type: ignore[attr-defined]
        return kernel

    return declare


def _round_to(result: Any, dtype: Any) -> Any:
    """``result`` (an array or a tuple of them) with its float32 arrays rounded to ``dtype``; indices stay."""
    if isinstance(result, tuple):
        return tuple(_round_to(r, dtype) for r in result)
    return result.astype(dtype) if getattr(result, "dtype", None) == np.float32 else result


def fast_path_of(backend: Any, kernel: str) -> Callable[..., bool] | None:
    """The declared condition of ``backend``'s fast path for ``kernel``, or None when it has none."""
    return getattr(getattr(type(backend), kernel, None), "applies", None)
