"""``Parameter``: a Tensor that a Module learns.

A Parameter is an ordinary leaf Tensor with ``requires_grad=True``. Its only special power is
that assigning it to a Module attribute (``self.weight = Parameter(...)``) registers it, so that
``module.parameters()`` finds it for the optimizer and ``state_dict()`` saves it.

>>> import minidl.nn as nn
>>> w = nn.Parameter([[1.0, 2.0]])
>>> w.requires_grad, w.dtype, w.shape
(True, dtype('float32'), minidl.Size([1, 2]))
"""

from __future__ import annotations

from typing import Any

import numpy as np

from minidl.backends import Backend
from minidl.dtypes import is_floating_point
from minidl.tensor import Tensor


class Parameter(Tensor):
    """A learnable tensor: float32 unless ``data`` is a Tensor of another float dtype or ``dtype`` says so.

    ``Parameter(t)`` for a minidl Tensor keeps its dtype and backend and shares its memory (like PyTorch).
    Numpy arrays and lists become float32 (the default dtype of parameters) unless ``dtype`` is given.
    """

    def __init__(self, data: Any = None, requires_grad: bool = True, backend: str | Backend | None = None,
                 dtype: Any = None) -> None:
        if data is None:
            data = np.empty((0,), dtype=np.float32)
        if isinstance(data, Tensor):
            backend = data.backend if backend is None else backend
            data = data.array  # share memory, keep the dtype
        elif dtype is None:
            array = np.asarray(data) if not hasattr(data, "__cuda_array_interface__") else data
            if not is_floating_point(array.dtype) or array.dtype == np.float64:
                dtype = np.float32
        super().__init__(data, requires_grad=False, backend=backend, dtype=dtype)
        if requires_grad:
            self.requires_grad = True

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()
