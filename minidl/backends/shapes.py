"""Shape arithmetic and fast-path conditions shared by the backends (one copy of each formula).

``conv_out_size`` and ``pool_out_size`` are the output lengths of a sliding window, used by the NumPy
reference and by every backend that allocates its own outputs. ``fits``, ``rows`` and ``flash_shapes``
say when the GPU backends' kernels (CUDA C for ``cupy``, Numba-CUDA for ``numba-cuda``) apply: both are
compiled for float32 and float64 only, and everything else goes to the NumPy reference.
"""

from __future__ import annotations

from typing import Any

import numpy

#: the dtypes the compiled GPU kernels exist for
KERNEL_DTYPES = (numpy.dtype(numpy.float32), numpy.dtype(numpy.float64))


def conv_out_size(n: int, k: int, s: int, p: int, d: int) -> int:
    """Output length of a window of size k (dilation d) sliding with stride s over n + 2p values."""
    return (n + 2 * p - d * (k - 1) - 1) // s + 1


def pool_out_size(n: int, k: int, s: int, p: int, d: int, ceil_mode: bool) -> int:
    """Pooling output length, as PyTorch: floor (or with ``ceil_mode`` ceil) of (n + 2p - d(k-1) - 1) / s, plus 1;
    in ceil_mode the last window must still start inside the input or the left padding."""
    span = n + 2 * p - d * (k - 1) - 1
    out = (span + (s - 1 if ceil_mode else 0)) // s + 1
    if ceil_mode and (out - 1) * s >= n + p:
        out -= 1
    return out


def fits(x: Any, ndim: int | None = None) -> bool:
    """True when the GPU kernels handle ``x``: float32/float64, non-empty, and ``ndim`` dims if given."""
    return numpy.dtype(x.dtype) in KERNEL_DTYPES and x.size > 0 and (ndim is None or x.ndim == ndim)


def rows(xp: Any, x: Any, axis: int) -> Any | None:
    """``x`` as a C-contiguous (rows, last axis) array of ``xp``, or None when the row kernels don't apply
    (another axis, another dtype, a scalar or an empty array)."""
    if x.ndim == 0 or not fits(x) or axis not in (-1, x.ndim - 1):
        return None
    return xp.ascontiguousarray(x).reshape(-1, x.shape[-1])


def rows_apply(x: Any, axis: int) -> bool:
    """Whether the GPU row kernels (softmax, log_softmax) take ``x`` along ``axis``: the last axis of a
    non-empty float32/float64 array of at least one dimension."""
    return x.ndim > 0 and fits(x) and axis in (-1, x.ndim - 1)


def in_place_apply(param: Any, *arrays: Any) -> bool:
    """Whether the GPU optimizer kernels can update ``param`` and its state in place: ``param`` fits, and every
    array given (the gradient, the state; None for a state that does not exist yet) has its dtype and is
    C-contiguous."""
    return fits(param) and all(a is None or (a.dtype == param.dtype and a.flags.c_contiguous)
                               for a in (param, *arrays))


def flash_apply(q: Any, k: Any, v: Any, mask: Any, keep: Any, max_head_dim: int) -> bool:
    """Whether the flash-attention kernels apply (``flash_shapes`` is not None)."""
    return flash_shapes(q, k, v, mask, keep, max_head_dim) is not None


def flash_shapes(q: Any, k: Any, v: Any, mask: Any, keep: Any, max_head_dim: int) -> tuple[int, int, int, int] | None:
    """(BH, L, S, E) when the flash-attention kernels apply: no mask, no dropout, float32/float64, equal batch
    dims and head sizes up to ``max_head_dim``; else None."""
    if mask is not None or keep is not None or not all(fits(a) for a in (q, k, v)) or q.ndim < 2:
        return None
    if not (q.shape[:-2] == k.shape[:-2] == v.shape[:-2] and q.shape[-1] == k.shape[-1] == v.shape[-1]):
        return None
    if not (k.shape[-2] == v.shape[-2] and q.shape[-1] <= max_head_dim):
        return None
    return int(numpy.prod(q.shape[:-2], dtype=numpy.int64)), q.shape[-2], k.shape[-2], q.shape[-1]
