"""The kernel contract: what a backend must supply.

A backend owns an array module (``xp``: ``numpy`` or ``cupy``) and a table of named kernels.
Ops (``minidl.ops``) hold the autograd rules and call kernels by name on ``tensor.backend``;
they never import numpy or cupy kernels directly for the hot paths listed here.

The contract is flat on purpose (see the CMU *needle* teaching framework): every kernel is a
method taking arrays (and plain Python parameters) and returning arrays. The list of kernel names,
``KERNELS``, is read from the catalogue ``kernels/README.md`` (one table row per kernel, grouped by op
family), so the list lives in one place. ``NumpyBackend`` (``numpy_backend.py``) is the readable
reference implementation of every kernel, its docstrings the kernels' math; faster backends subclass
it and override only the kernels they make faster. ``tests/test_kernel_catalogue.py`` keeps the
catalogue, the reference and the case table in step.

Adding a kernel touches 3 files: its method in ``minidl/backends/numpy_backend.py`` (the reference;
a faster version of an existing kernel goes in the faster backend instead), its rows in
``minidl/testing/kernel_cases.py``, and its line in ``kernels/README.md`` (which also makes the name
part of ``KERNELS``). A faster backend's kernel goes in the file of its group (the headings of the
catalogue), named alike in the three trees: ``kernels/<group>.cu`` (CUDA C), ``numba_kernels/<group>.py``,
``cuda_kernels/<group>.py`` with the groups softmax, indexing, losses, embedding, optim, conv, pool,
norm, rnn and attention.
"""

from __future__ import annotations

import re
from typing import Any

import numpy

from minidl.dtypes import LOW_PRECISION
from minidl.kernel_files import kernel_dir


def accumulation_dtype(dtype: Any) -> Any:
    """The dtype that reductions add up in: float32 for a float16 input, else the input's own dtype.

    float16 keeps 11 significant bits and nothing above 65504. A running total of float16 values
    goes wrong two ways: it overflows (4096 values of 30 sum to 122880, so their mean came out inf)
    and it stalls (above 2048 the spacing of float16 numbers is 2, so adding 1 changes nothing).
    Squares overflow even sooner: (x - mean)^2 is inf once |x - mean| > 256, which made layer norm
    divide by inf and return 0. So, as PyTorch does, every reduction and normalisation of float16
    computes its sums, squares and statistics in float32 and rounds to float16 once, at the end.
    """
    dtype = numpy.dtype(dtype)
    return numpy.dtype(numpy.float32) if dtype in LOW_PRECISION else dtype  # bfloat16 too: 8 significant bits

def read_catalogue() -> tuple[str, ...]:
    """The kernel names of the catalogue ``kernels/README.md``, in its order: the first cell of each table
    row that starts with a name in backticks, e.g. ``| `softmax` | `(x, axis) -> y` | ... |``."""
    text = (kernel_dir() / "README.md").read_text()
    return tuple(re.findall(r"^\|\s*`([a-z0-9_]+)`\s*\|", text, flags=re.MULTILINE))


# Every kernel of the contract, in the catalogue's order; kernels/README.md groups them by op family.
KERNELS: tuple[str, ...] = read_catalogue()


class Backend:
    """Base class of every backend: the array helpers. Subclasses set ``name`` and ``xp``; the kernels
    come from ``NumpyBackend`` (the reference), which faster backends subclass."""

    name: str = "abstract"
    xp: Any = None  # the array module: numpy or cupy
    is_gpu: bool = False

    # ---- array helpers (not kernels: every backend gets them from its ``xp``) ----
    def asarray(self, data: Any, dtype: Any = None) -> Any:
        """Turn ``data`` (list, scalar, numpy array, ...) into an array of this backend."""
        return self.xp.asarray(data, dtype=dtype)

    def to_numpy(self, array: Any) -> Any:
        """Return ``array`` as a ``numpy.ndarray`` on the host (a copy only where needed)."""
        return array

    def synchronize(self) -> None:
        """Wait for queued device work to finish (a no-op on CPU backends)."""

    def __repr__(self) -> str:
        return f"<minidl backend {self.name!r}>"

    # A backend is one shared object per name (ops compare backends with `is`): copying a tensor or a
    # module (copy.deepcopy(model)) must keep pointing at the same backend, not at a copy of it.
    def __copy__(self) -> Backend:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> Backend:
        return self
