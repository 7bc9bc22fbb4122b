"""Collation: turning a list of samples into one batch.

A *sample* is whatever ``dataset[i]`` returns: an array, a number, or a tuple/list/dict of them.
Collation happens in two steps, so that array-backed datasets can skip the first one:

1. :func:`stack_samples` stacks the samples into NumPy arrays with a new leading batch axis,
   keeping the structure: ``[(x0, y0), (x1, y1)]`` becomes ``(stack([x0, x1]), array([y0, y1]))``.
   (``TensorDataset.get_batch`` produces this directly, with one fancy index per array.)
2. :func:`to_tensors` wraps every array in a ``minidl.Tensor``, choosing the dtype:

   ========================  ==================================================
   float64 (Python floats)   float32 (minidl's default float dtype)
   other floats              kept (float32, float16)
   signed / wide ints        int64 (class labels, token ids)
   uint8                     kept (image bytes: convert them with ``ToFloat``)
   bool                      kept
   ========================  ==================================================

:func:`default_collate` is the two steps together, like ``torch.utils.data.default_collate``.
:func:`default_convert` converts one sample without stacking (a ``DataLoader`` with ``batch_size=None``).

>>> batch = default_collate([(np.zeros(2), 1), (np.ones(2), 0)])
>>> batch[0].shape, batch[0].dtype, batch[1].tolist(), batch[1].dtype
(minidl.Size([2, 2]), dtype('float32'), [1, 0], dtype('int64'))
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from minidl.creation import as_tensor
from minidl.tensor import Tensor

__all__ = ["default_collate", "default_convert", "stack_samples", "to_tensors"]


def _is_namedtuple(x: Any) -> bool:
    return isinstance(x, tuple) and hasattr(x, "_fields")


def stack_samples(samples: Sequence[Any]) -> Any:
    """Stack a list of samples into NumPy arrays with a leading batch axis, keeping tuples and dicts."""
    if len(samples) == 0:
        raise ValueError("stack_samples: cannot collate an empty list of samples")
    first = samples[0]
    if isinstance(first, Tensor):
        return np.stack([s.detach().numpy() for s in samples])
    if isinstance(first, np.ndarray | np.generic):
        return np.stack(samples)
    if isinstance(first, bool | numbers.Number):
        return np.array(samples)
    if isinstance(first, str | bytes):
        return list(samples)
    if isinstance(first, Mapping):
        return {key: stack_samples([s[key] for s in samples]) for key in first}
    if isinstance(first, Sequence):
        if any(len(s) != len(first) for s in samples):
            raise ValueError("stack_samples: every sample in a batch must have the same number of fields")
        fields = [stack_samples(list(column)) for column in zip(*samples)]
        return type(first)(*fields) if _is_namedtuple(first) else tuple(fields)
    raise TypeError(f"stack_samples: cannot collate samples of type {type(first).__name__}")


def _tensor_dtype(dtype: np.dtype) -> np.dtype:
    if dtype == np.float64:
        return np.dtype(np.float32)
    if dtype.kind == "i" or (dtype.kind == "u" and dtype.itemsize > 1):
        return np.dtype(np.int64)
    return dtype


def to_tensors(batch: Any) -> Any:
    """Wrap every NumPy array of a (stacked) batch in a Tensor, with the dtypes of the module docstring."""
    if isinstance(batch, np.ndarray):
        dtype = _tensor_dtype(batch.dtype)
        return as_tensor(np.ascontiguousarray(batch, dtype=dtype))
    if isinstance(batch, Tensor):
        return batch
    if isinstance(batch, Mapping):
        return {key: to_tensors(value) for key, value in batch.items()}
    if _is_namedtuple(batch):
        return type(batch)(*(to_tensors(b) for b in batch))
    if isinstance(batch, tuple):
        return tuple(to_tensors(b) for b in batch)
    return batch  # lists of strings and other values pass through


def default_collate(samples: Sequence[Any]) -> Any:
    """Stack ``samples`` and convert the result to Tensors (see the module docstring)."""
    return to_tensors(stack_samples(samples))


def default_convert(data: Any) -> Any:
    """Convert one sample: NumPy arrays and scalars become Tensors (dtypes as above), nothing is stacked.

    Python numbers, strings and Tensors are kept; tuples, lists and dicts are converted field by field.

    >>> default_convert({"x": np.zeros(2), "n": 3})
    {'x': tensor([0., 0.]), 'n': 3}
    """
    if isinstance(data, np.ndarray | np.generic):
        if data.dtype.kind in "OSUV":  # strings and objects stay as they are
            return data
        array = np.asarray(data)  # a NumPy scalar becomes a 0-d tensor
        return as_tensor(array.astype(_tensor_dtype(array.dtype), copy=False))
    if isinstance(data, Mapping):
        return {key: default_convert(value) for key, value in data.items()}
    if _is_namedtuple(data):
        return type(data)(*(default_convert(d) for d in data))
    if isinstance(data, tuple):
        return tuple(default_convert(d) for d in data)
    if isinstance(data, list):
        return [default_convert(d) for d in data]
    return data
