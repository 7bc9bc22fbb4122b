"""The kernel contract: what a backend must supply.

A backend owns an array module (``xp``: ``numpy`` or ``cupy``) and a table of named kernels.
Ops (``minidl.ops``) hold the autograd rules and call kernels by name on ``tensor.backend``;
they never import numpy or cupy kernels directly for the hot paths listed here.

The contract is flat on purpose (see the CMU *needle* teaching framework): every kernel is a
method taking arrays (and plain Python parameters) and returning arrays. ``NumpyBackend`` is the
readable reference implementation of every kernel; faster backends subclass it and override
only the kernels they make faster. ``kernels/README.md`` is the catalogue of these names and a
test keeps the two in step.

Adding a kernel: add its name to ``KERNELS`` and a method here that raises, implement it in
``numpy_backend.py``, describe it in ``kernels/README.md``.
"""

from __future__ import annotations

from typing import Any

# Every kernel of the contract, grouped by op family. Order is documentation order.
KERNELS: tuple[str, ...] = (
    # linear algebra
    "matmul",
    # softmax family
    "softmax",
    "log_softmax",
    "logsumexp",
    # indexing
    "index_add",
    "take_along_axis_add",
    # optimizers: in-place updates of a parameter array and its state arrays
    "sgd_update",
    "adam_update",
    "rmsprop_update",
    "adagrad_update",
)


class Backend:
    """Base class of every backend. Subclasses set ``name`` and ``xp`` and implement KERNELS."""

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

    # ---- kernels ----
    def matmul(self, a: Any, b: Any) -> Any:
        """Batched matrix product of two arrays with ndim >= 2 (numpy broadcasting of batch dims)."""
        raise NotImplementedError

    def softmax(self, x: Any, axis: int) -> Any:
        """``exp(x - max) / sum(exp(x - max))`` along ``axis``."""
        raise NotImplementedError

    def log_softmax(self, x: Any, axis: int) -> Any:
        """``x - logsumexp(x)`` along ``axis``."""
        raise NotImplementedError

    def logsumexp(self, x: Any, axis: Any, keepdims: bool) -> Any:
        """``log(sum(exp(x)))`` along ``axis`` (an int, a tuple or None), computed stably."""
        raise NotImplementedError

    def index_add(self, shape: tuple[int, ...], index: Any, values: Any) -> Any:
        """Zeros of ``shape`` with ``values`` added at ``x[index]``; repeated indices accumulate."""
        raise NotImplementedError

    def take_along_axis_add(self, shape: tuple[int, ...], indices: Any, values: Any, axis: int) -> Any:
        """Zeros of ``shape`` with ``values`` scatter-added where ``take_along_axis`` read them."""
        raise NotImplementedError

    # ---- optimizers: update ``param`` (and the state arrays) in place from ``grad``; PyTorch's rules ----
    def sgd_update(self, param: Any, grad: Any, momentum_buffer: Any, lr: float, momentum: float, dampening: float,
                   weight_decay: float, nesterov: bool, maximize: bool) -> Any:
        """SGD step; returns the momentum buffer (a new array when ``momentum_buffer`` is None, None without
        momentum). ``g = ±grad + wd p; b = mu b + (1 - dampening) g (b = g at first); p -= lr (g + mu b or b)``."""
        raise NotImplementedError

    def adam_update(self, param: Any, grad: Any, exp_avg: Any, exp_avg_sq: Any, lr: float, beta1: float,
                    beta2: float, eps: float, weight_decay: float, step: int, decoupled: bool,
                    max_exp_avg_sq: Any = None, maximize: bool = False) -> None:
        """Adam (L2 weight decay) or AdamW (``decoupled``) step number ``step`` (from 1); AMSGrad when
        ``max_exp_avg_sq`` is an array. ``m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
        p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)``."""
        raise NotImplementedError

    def rmsprop_update(self, param: Any, grad: Any, square_avg: Any, lr: float, alpha: float, eps: float,
                       weight_decay: float, momentum: float, grad_avg: Any = None, momentum_buffer: Any = None,
                       maximize: bool = False) -> None:
        """RMSprop step; centered when ``grad_avg`` is an array, with momentum when ``momentum_buffer`` is one.
        ``s = a s + (1-a) g^2; avg = sqrt(s - gbar^2) + eps; b = mu b + g / avg; p -= lr b``."""
        raise NotImplementedError

    def adagrad_update(self, param: Any, grad: Any, state_sum: Any, step: int, lr: float, lr_decay: float,
                       weight_decay: float, eps: float, maximize: bool = False) -> None:
        """Adagrad step number ``step`` (from 1): ``s += g^2; p -= lr / (1 + (t-1) lr_decay) * g / (sqrt(s) + eps)``."""
        raise NotImplementedError
