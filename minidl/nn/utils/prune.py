"""Pruning: zero a chosen part of a weight with a mask, as ``torch.nn.utils.prune`` (same names and semantics).

Pruning ``module.weight`` moves the parameter to ``module.weight_orig``, stores a 0/1 mask as the buffer
``module.weight_mask``, and registers a forward pre-hook that recomputes ``module.weight = weight_orig *
weight_mask`` before every call. So training continues with the mask: the gradient reaching
``weight_orig`` is ``mask * dL/dweight`` (pruned entries get zero), and the state_dict holds ``weight_orig``
and ``weight_mask``, PyTorch's keys. ``remove(module, "weight")`` makes it permanent (a plain ``weight``
parameter again, with its zeros).

Which entries go (``amount``: a fraction of the entries, or an int count; rounded as Python's ``round``):

* ``l1_unstructured``: the entries with the smallest ``|w|``; ``random_unstructured``: random entries;
* ``ln_structured(n, dim)``: whole slices along ``dim`` (``dim=0``: a Conv2d's filters, a Linear's
  output units) with the smallest L``n`` norm; ``random_structured``: random slices;
* ``global_unstructured``: the smallest entries over several tensors together (a per-layer budget is
  not fixed, so layers with small weights lose more);
* ``custom_from_mask``: your own mask; ``identity``: all ones (a pruned form that prunes nothing).

Pruning again composes the masks as PyTorch's ``PruningContainer``: the new method sees only the entries
(or, for a structured method, the slices) still alive, and its ``amount`` is a fraction of those.

>>> import minidl, minidl.nn as nn
>>> from minidl.nn.utils import prune
>>> layer = nn.Linear(4, 2)
>>> layer.weight.array[...] = [[1, 2, 3, -4], [5, -6, 7, -8]]
>>> _ = prune.l1_unstructured(layer, "weight", amount=0.25)    # 2 of 8 entries: the smallest |w|
>>> layer.weight.tolist()
[[0.0, 0.0, 3.0, -4.0], [5.0, -6.0, 7.0, -8.0]]
>>> sorted(layer.state_dict())
['bias', 'weight_mask', 'weight_orig']
>>> _ = prune.remove(layer, "weight"); sorted(layer.state_dict())
['bias', 'weight']

Zeros in a dense weight save no time: the kernels multiply them anyway. ``compact(conv, next_layer)``
(minidl's own, not in PyTorch) rebuilds a structurally pruned layer and the layer after it without the
zeroed filters, so the work really shrinks. Measured on the MNIST CNN (``minidl.examples.mnist_cnn``,
Conv2d(1, 32) -> ReLU -> MaxPool -> Linear(5408, 128) -> Linear(128, 10)), inference on a batch of 1000
images, numpy backend, 2 CPU cores, median of 5: 32 filters 412 ms, half the filters removed by
``ln_structured(..., n=1, dim=0)`` and compacted to 16 filters 224 ms (1.84x faster), the outputs equal to
1e-5 (``test_compact_gives_the_same_outputs_and_measures_the_speed_up`` in tests/nn/test_prune.py prints
the figure; run it with ``-s``).
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from minidl.nn.conv import Conv2d
from minidl.nn.linear import Linear
from minidl.nn.module import Module
from minidl.random import Generator, get_generator
from minidl.tensor import Tensor


def _host(t: Tensor) -> np.ndarray:
    return np.asarray(t.backend.to_numpy(t.detach().array))


def _count(amount: int | float, size: int) -> int:
    """How many of ``size`` entries ``amount`` (an int count or a fraction) means; checked against ``size``."""
    n = amount if isinstance(amount, numbers.Integral) else round(amount * size)
    if n > size:
        raise ValueError(f"amount={amount} should be smaller than the number of parameters to prune ({size})")
    return int(n)


def _structured_count(t: np.ndarray, dim: int, amount: int | float) -> tuple[int, int]:
    """The dim that structured pruning removes slices along, and how many slices ``amount`` means."""
    if t.ndim <= 1:
        raise ValueError(f"structured pruning needs a tensor of at least 2 dims, got shape {t.shape}")
    dim = dim % t.ndim
    return dim, _count(amount, t.shape[dim])


def _check_amount(amount: int | float) -> None:
    if not isinstance(amount, numbers.Real):
        raise TypeError(f"Invalid type for amount: {amount}. Must be int or float.")
    if (isinstance(amount, numbers.Integral) and amount < 0) or (
            not isinstance(amount, numbers.Integral) and not 0.0 <= float(amount) <= 1.0):
        raise ValueError(f"amount={amount} should either be a float in the range [0, 1] or a non-negative integer")


def _slice_mask(shape: tuple[int, ...], dim: int, keep: np.ndarray, dtype: Any) -> np.ndarray:
    """Ones on the slices ``keep`` (indices or booleans) along ``dim``, zeros elsewhere."""
    mask = np.zeros(shape, dtype=dtype)
    index: list[Any] = [slice(None)] * len(shape)
    index[dim] = keep
    mask[tuple(index)] = 1
    return mask


class BasePruningMethod:
    """A way of choosing a mask; the object is also the forward pre-hook that applies it (as PyTorch's)."""

    PRUNING_TYPE = "unstructured"  # or "structured" (whole slices along self.dim) or "global"
    _tensor_name: str

    def compute_mask(self, t: np.ndarray, default_mask: np.ndarray) -> np.ndarray:
        """The new mask for importance scores ``t``, given the mask so far; both numpy arrays."""
        raise NotImplementedError

    def apply_mask(self, module: Module) -> Tensor:
        """``<name>_orig * <name>_mask``: differentiable in ``_orig``, so its gradient is masked."""
        return getattr(module, self._tensor_name + "_orig") * getattr(module, self._tensor_name + "_mask")

    def __call__(self, module: Module, inputs: Any) -> None:
        setattr(module, self._tensor_name, self.apply_mask(module))

    @classmethod
    def apply(cls, module: Module, name: str, *args: Any, importance_scores: Tensor | None = None,
              **kwargs: Any) -> BasePruningMethod:
        """Prune ``module.<name>`` with ``cls(*args, **kwargs)``, composing with an earlier pruning."""
        method: BasePruningMethod = cls(*args, **kwargs)
        method._tensor_name = name
        old = _pruning_hook(module, name)
        if old is not None:
            old._handle.remove()
            container = old if isinstance(old, PruningContainer) else PruningContainer(old)
            container.add_pruning_method(method)
            method = container
        current = getattr(module, name)
        scores = current if importance_scores is None else importance_scores
        if tuple(scores.shape) != tuple(current.shape):
            raise ValueError(f"importance_scores should have the shape {tuple(current.shape)} of {name}")
        if old is None:
            default_mask = np.ones(current.shape, dtype=current.dtype)
        else:
            default_mask = _host(getattr(module, name + "_mask")).copy()
        mask = method.compute_mask(_host(scores), default_mask).astype(current.dtype)
        if old is None:
            del module._parameters[name]
            module.register_parameter(name + "_orig", current)
        orig = getattr(module, name + "_orig")
        module.register_buffer(name + "_mask", Tensor(orig.backend.asarray(mask), backend=orig.backend))
        setattr(module, name, method.apply_mask(module))
        method._handle = module.register_forward_pre_hook(method)
        return method

    def remove(self, module: Module) -> None:
        """Make the pruning permanent: ``<name>`` becomes a Parameter holding ``_orig * _mask``."""
        weight = self.apply_mask(module)
        orig = module._parameters.pop(self._tensor_name + "_orig")
        del module._buffers[self._tensor_name + "_mask"]
        module.__dict__.pop(self._tensor_name, None)
        orig.array = weight.array
        setattr(module, self._tensor_name, orig)


class PruningContainer(BasePruningMethod):
    """The pruning methods applied to one tensor so far; the newest one sees only what the others kept."""

    def __init__(self, *methods: BasePruningMethod) -> None:
        self._pruning_methods: tuple[BasePruningMethod, ...] = ()
        for m in methods:
            self.add_pruning_method(m)

    def add_pruning_method(self, method: BasePruningMethod) -> None:
        if self._pruning_methods and method._tensor_name != self._tensor_name:
            raise ValueError(f"can only add pruning methods acting on the parameter {self._tensor_name}")
        self._tensor_name = method._tensor_name
        self._pruning_methods += (method,)

    def compute_mask(self, t: np.ndarray, default_mask: np.ndarray) -> np.ndarray:
        method, mask = self._pruning_methods[-1], default_mask.copy()
        if method.PRUNING_TYPE == "unstructured":
            alive: Any = mask == 1  # the surviving entries, as a 1-d vector
        elif method.PRUNING_TYPE == "structured":
            dim = method.dim % t.ndim
            others = tuple(d for d in range(t.ndim) if d != dim)
            alive = [slice(None)] * t.ndim
            alive[dim] = mask.sum(axis=others) != 0  # the surviving slices along dim
            alive = tuple(alive)
        else:  # "global": the whole tensor
            alive = (slice(None),) * t.ndim
        mask[alive] = method.compute_mask(t[alive], mask[alive])
        return mask


class Identity(BasePruningMethod):
    def compute_mask(self, t: np.ndarray, default_mask: np.ndarray) -> np.ndarray:
        return default_mask


class RandomUnstructured(BasePruningMethod):
    def __init__(self, amount: int | float, generator: Generator | None = None) -> None:
        _check_amount(amount)
        self.amount, self.generator = amount, generator

    def compute_mask(self, t: np.ndarray, default_mask: np.ndarray) -> np.ndarray:
        k, mask = _count(self.amount, t.size), default_mask.copy()
        if k:
            mask.reshape(-1)[get_generator(self.generator).permutation(t.size)[:k]] = 0
        return mask


class L1Unstructured(BasePruningMethod):
    def __init__(self, amount: int | float) -> None:
        _check_amount(amount)
        self.amount = amount

    def compute_mask(self, t: np.ndarray, default_mask: np.ndarray) -> np.ndarray:
        k, mask = _count(self.amount, t.size), default_mask.copy()
        if k:
            mask.reshape(-1)[np.argsort(np.abs(t).reshape(-1), kind="stable")[:k]] = 0
        return mask


class LnStructured(BasePruningMethod):
    PRUNING_TYPE = "structured"

    def __init__(self, amount: int | float, n: int | float | str, dim: int = -1) -> None:
        _check_amount(amount)
        self.amount, self.n, self.dim = amount, n, dim

    def compute_mask(self, t: np.ndarray, default_mask: np.ndarray) -> np.ndarray:
        dim, k = _structured_count(t, self.dim, self.amount)
        if k == 0:
            return default_mask
        a = np.abs(np.moveaxis(t, dim, 0).reshape(t.shape[dim], -1).astype(np.float64))
        p = 2.0 if self.n == "fro" else float(self.n)
        if p == np.inf:
            norm = a.max(axis=1)
        elif p == -np.inf:
            norm = a.min(axis=1)
        elif p == 0:
            norm = (a != 0).sum(axis=1).astype(np.float64)
        else:
            norm = (a**p).sum(axis=1) ** (1 / p)
        keep = np.argsort(-norm, kind="stable")[: t.shape[dim] - k]  # the largest norms stay
        return _slice_mask(t.shape, dim, keep, default_mask.dtype) * default_mask


class RandomStructured(BasePruningMethod):
    PRUNING_TYPE = "structured"

    def __init__(self, amount: int | float, dim: int = -1, generator: Generator | None = None) -> None:
        _check_amount(amount)
        self.amount, self.dim, self.generator = amount, dim, generator

    def compute_mask(self, t: np.ndarray, default_mask: np.ndarray) -> np.ndarray:
        dim, k = _structured_count(t, self.dim, self.amount)
        if k == 0:
            return default_mask
        keep = get_generator(self.generator).permutation(t.shape[dim])[k:]
        return _slice_mask(t.shape, dim, keep, default_mask.dtype) * default_mask


class CustomFromMask(BasePruningMethod):
    PRUNING_TYPE = "global"

    def __init__(self, mask: Any) -> None:
        self.mask = _host(mask) if isinstance(mask, Tensor) else np.asarray(mask)

    def compute_mask(self, t: np.ndarray, default_mask: np.ndarray) -> np.ndarray:
        if default_mask.shape != self.mask.shape:
            raise ValueError(f"the mask has shape {self.mask.shape}, the tensor {default_mask.shape}")
        return default_mask * self.mask.astype(default_mask.dtype)


def _pruning_hook(module: Module, name: str) -> BasePruningMethod | None:
    for hook, _ in module._forward_pre_hooks.values():
        if isinstance(hook, BasePruningMethod) and hook._tensor_name == name:
            return hook
    return None


def identity(module: Module, name: str) -> Module:
    """Prune nothing: a mask of ones (``<name>_orig`` and ``<name>_mask`` appear)."""
    Identity.apply(module, name)
    return module


def random_unstructured(module: Module, name: str, amount: int | float,
                        generator: Generator | None = None) -> Module:
    """Zero ``amount`` entries of ``module.<name>`` chosen at random (``generator``: minidl's RNG to use)."""
    RandomUnstructured.apply(module, name, amount, generator)
    return module


def l1_unstructured(module: Module, name: str, amount: int | float,
                    importance_scores: Tensor | None = None) -> Module:
    """Zero the ``amount`` entries of ``module.<name>`` with the smallest ``|importance|`` (default: the weight)."""
    L1Unstructured.apply(module, name, amount, importance_scores=importance_scores)
    return module


def ln_structured(module: Module, name: str, amount: int | float, n: int | float | str, dim: int,
                  importance_scores: Tensor | None = None) -> Module:
    """Zero the ``amount`` slices along ``dim`` with the smallest L``n`` norm (``||s||_n = (sum |s_i|^n)^(1/n)``)."""
    LnStructured.apply(module, name, amount, n, dim, importance_scores=importance_scores)
    return module


def random_structured(module: Module, name: str, amount: int | float, dim: int,
                      generator: Generator | None = None) -> Module:
    """Zero ``amount`` slices along ``dim`` chosen at random."""
    RandomStructured.apply(module, name, amount, dim, generator)
    return module


def custom_from_mask(module: Module, name: str, mask: Any) -> Module:
    """Multiply the mask of ``module.<name>`` by ``mask`` (a 0/1 array or Tensor of the same shape)."""
    CustomFromMask.apply(module, name, mask)
    return module


def global_unstructured(parameters: Iterable[tuple[Module, str]], pruning_method: type[BasePruningMethod],
                        importance_scores: dict[tuple[Module, str], Tensor] | None = None,
                        **kwargs: Any) -> None:
    """Prune the ``(module, name)`` tensors together: the method (e.g. ``L1Unstructured``, ``amount=...``)
    chooses among all their surviving entries at once, then each tensor gets its part of the mask."""
    if not isinstance(parameters, Iterable):
        raise TypeError("global_unstructured: parameters must be an iterable of (module, name) pairs")
    parameters, scores = list(parameters), importance_scores or {}
    flat_scores = np.concatenate([_host(scores.get((m, n), getattr(m, n))).reshape(-1) for m, n in parameters])
    flat_mask = np.concatenate([_host(m._buffers[n + "_mask"]).reshape(-1) if n + "_mask" in m._buffers
                                else np.ones(getattr(m, n).numel(), dtype=flat_scores.dtype) for m, n in parameters])
    method = pruning_method(**kwargs)
    if method.PRUNING_TYPE != "unstructured":
        raise TypeError(f'only "unstructured" PRUNING_TYPE supported, got {method.PRUNING_TYPE!r}')
    method._tensor_name = "temp"
    final = PruningContainer(method).compute_mask(flat_scores, flat_mask)
    start = 0
    for module, name in parameters:
        shape = tuple(getattr(module, name).shape)
        size = int(np.prod(shape))
        custom_from_mask(module, name, final[start:start + size].reshape(shape))
        start += size


def remove(module: Module, name: str) -> Module:
    """Make the pruning of ``module.<name>`` permanent and drop its hook, ``_orig`` and ``_mask``."""
    hook = _pruning_hook(module, name)
    if hook is None:
        raise ValueError(f"Parameter '{name}' of module {type(module).__name__} has to be pruned before pruning "
                         f"can be removed")
    hook.remove(module)
    hook._handle.remove()
    return module


def is_pruned(module: Module) -> bool:
    """Whether ``module`` or one of its submodules has a pruned tensor."""
    return any(isinstance(hook, BasePruningMethod)
               for m in module.modules() for hook, _ in m._forward_pre_hooks.values())


def compact(layer: Conv2d | Linear, next_layer: Conv2d | Linear,
            activation: Callable[[Tensor], Tensor] | None = None) -> tuple[Conv2d | Linear, Conv2d | Linear]:
    """New, smaller ``(layer, next_layer)`` without ``layer``'s all-zero filters (minidl's own; PyTorch has none).

    A filter (output channel or unit) whose weight is all zero -- after ``ln_structured(layer, "weight", ...,
    dim=0)`` -- outputs the constant ``b_c``. It is dropped from ``layer``, with its input slice of
    ``next_layer`` (the columns ``c*s:(c+1)*s`` of a Linear after a Flatten, ``s = in_features /
    out_channels``; channel ``c`` of a Conv2d). Its constant reaches the next layer as ``act(b_c)`` when the
    layers between are ``activation`` (elementwise; None for none) and pooling, which keep a constant map
    constant; that contribution is folded into ``next_layer``'s bias, so the outputs stay the same. The new
    layers are plain (unpruned) modules with copies of the current (masked) weights.
    """
    weight = _host(layer.weight)
    alive = np.abs(weight.reshape(weight.shape[0], -1)).sum(axis=1) != 0
    w2 = _host(next_layer.weight)
    n = weight.shape[0]
    if isinstance(next_layer, Linear):
        per = w2.shape[1] // n
        w2 = w2.reshape(w2.shape[0], n, per)  # (out, channel, positions)
    elif isinstance(next_layer, Conv2d):
        if next_layer.groups != 1:
            raise ValueError("compact: the next Conv2d must have groups=1")
    else:
        raise TypeError(f"compact: next_layer must be a Conv2d or a Linear, got {type(next_layer).__name__}")
    if isinstance(layer, Conv2d) and layer.groups != 1:
        raise ValueError("compact: the layer must have groups=1")
    b2 = _host(next_layer.bias).astype(np.float64) if next_layer.bias is not None else None
    if layer.bias is not None and not alive.all():
        dead = np.zeros(n, dtype=weight.dtype)
        dead[~alive] = _host(layer.bias)[~alive]
        if activation is not None:
            dead = _host(activation(Tensor(layer.bias.backend.asarray(dead), backend=layer.bias.backend)))
        dead[alive] = 0
        if dead.any():
            padded = isinstance(next_layer, Conv2d) and next_layer.padding not in ("valid", (0, 0))
            if padded:
                raise ValueError("compact: a constant channel through a padded Conv2d is not constant at the "
                                 "borders; prune the bias of those filters too")
            fold = (w2 * dead.reshape((1, n) + (1,) * (w2.ndim - 2))).reshape(w2.shape[0], -1).sum(axis=1)
            if b2 is None:
                raise ValueError("compact: the removed filters have a bias but next_layer has none to fold it into")
            b2 = b2 + fold
    kw = {"dtype": layer.weight.dtype, "backend": layer.weight.backend}
    keep = int(alive.sum())
    if isinstance(layer, Conv2d):
        small = Conv2d(layer.in_channels, keep, layer.kernel_size, layer.stride, layer.padding, layer.dilation,
                       bias=layer.bias is not None, padding_mode=layer.padding_mode, **kw)
    else:
        small = Linear(layer.in_features, keep, bias=layer.bias is not None, **kw)
    small.weight.array = small.weight.backend.asarray(weight[alive])
    if layer.bias is not None:
        small.bias.array = small.bias.backend.asarray(_host(layer.bias)[alive])
    w2 = w2[:, alive]
    kw2 = {"dtype": next_layer.weight.dtype, "backend": next_layer.weight.backend}
    if isinstance(next_layer, Linear):
        after: Conv2d | Linear = Linear(keep * w2.shape[2], w2.shape[0], bias=b2 is not None, **kw2)
        w2 = w2.reshape(w2.shape[0], -1)
    else:
        after = Conv2d(keep, next_layer.out_channels, next_layer.kernel_size, next_layer.stride, next_layer.padding,
                       next_layer.dilation, bias=b2 is not None, padding_mode=next_layer.padding_mode, **kw2)
    after.weight.array = after.weight.backend.asarray(np.ascontiguousarray(w2))
    if b2 is not None:
        after.bias.array = after.bias.backend.asarray(b2.astype(after.bias.dtype))
    return small, after
