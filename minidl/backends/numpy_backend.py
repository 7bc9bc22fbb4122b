"""The NumPy backend: the readable reference implementation of every kernel.

Every kernel is written with ``self.xp`` so that the same code also runs on CuPy arrays; the GPU
backends subclass this one and override only what they make faster. Kernels are vectorised: no
Python loops over batch elements or pixels.
"""

from __future__ import annotations

from typing import Any

import numpy

from minidl.backends.base import Backend


class NumpyBackend(Backend):
    name = "numpy"
    xp = numpy

    def to_numpy(self, array: Any) -> numpy.ndarray:
        return numpy.asarray(array)

    # ---- linear algebra ----
    def matmul(self, a, b):
        return self.xp.matmul(a, b)

    # ---- softmax family ----
    def softmax(self, x, axis):
        # Subtracting the max changes nothing mathematically and keeps exp() from overflowing.
        e = self.xp.exp(x - x.max(axis=axis, keepdims=True))
        e /= e.sum(axis=axis, keepdims=True)
        return e

    def log_softmax(self, x, axis):
        shifted = x - x.max(axis=axis, keepdims=True)
        return shifted - self.xp.log(self.xp.exp(shifted).sum(axis=axis, keepdims=True))

    def logsumexp(self, x, axis, keepdims):
        xp = self.xp
        m = x.max(axis=axis, keepdims=True)
        m = xp.where(xp.isfinite(m), m, 0)  # all -inf rows give -inf, not NaN
        out = xp.log(xp.exp(x - m).sum(axis=axis, keepdims=True)) + m
        if not keepdims:
            out = out.squeeze(axis=axis) if axis is not None else out.reshape(())
        return out.astype(x.dtype, copy=False)

    # ---- indexing ----
    def index_add(self, shape, index, values):
        out = self.xp.zeros(shape, dtype=values.dtype)
        self.xp.add.at(out, index, values)
        return out

    def take_along_axis_add(self, shape, indices, values, axis):
        xp = self.xp
        out = xp.zeros(shape, dtype=values.dtype)
        axis = axis % len(shape)
        # Build a full index tuple: the given indices on `axis`, a broadcast arange elsewhere.
        grid = []
        for d, n in enumerate(indices.shape):
            if d == axis:
                grid.append(indices)
            else:
                view = [1] * indices.ndim
                view[d] = n
                grid.append(xp.arange(n).reshape(view))
        xp.add.at(out, tuple(grid), values)
        return out
