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

from minidl.backends.numpy_backend import NumpyBackend


def fast_path(applies: Callable[..., bool]) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Declare a kernel override that runs when ``applies(*args, **kwargs)`` holds; the NumPy reference
    kernel of the same name runs otherwise."""

    def declare(fast: Callable[..., Any]) -> Callable[..., Any]:
        reference = getattr(NumpyBackend, fast.__name__)  # an override of a kernel the reference lacks is a bug

        @functools.wraps(fast)
        def kernel(self: Any, *args: Any, **kwargs: Any) -> Any:
            if applies(*args, **kwargs):
                return fast(self, *args, **kwargs)
            return reference(self, *args, **kwargs)

        kernel.applies = applies  # type: ignore[attr-defined]
        kernel.fast = fast  # type: ignore[attr-defined]
        return kernel

    return declare


def fast_path_of(backend: Any, kernel: str) -> Callable[..., bool] | None:
    """The declared condition of ``backend``'s fast path for ``kernel``, or None when it has none."""
    return getattr(getattr(type(backend), kernel, None), "applies", None)
