"""``minidl.nn.functional`` (import it as ``F``): the layers' math as plain functions.

This module only gathers functions from ``minidl.ops`` (where each op's math and gradient live)
under PyTorch's names, so ``F.cross_entropy(logits, y)`` reads like in PyTorch.

A new op needs no line here: every public function of the op families in ``FAMILIES`` is ``F.<name>``
(``ops_of`` below), except the helpers named in ``NOT_FUNCTIONAL``. ``tests/test_contributing.py``
checks that each of them has a harness case.

>>> import minidl
>>> import minidl.nn.functional as F
>>> F.relu(minidl.tensor([-1.0, 2.0]))
tensor([0., 2.])
"""

import importlib
import inspect
from types import ModuleType

from minidl.ops.dropout import dropout_nd as dropout1d
from minidl.ops.dropout import dropout_nd as dropout2d
from minidl.ops.dropout import dropout_nd as dropout3d
from minidl.ops.elementwise import relu, sigmoid, tanh  # the rest of elementwise is minidl.<name>, as in torch
from minidl.ops.matmul import linear
from minidl.ops.shape import pad

# the files of minidl/ops whose public functions are all nn.functional's (a new family: add it here)
FAMILIES = ("activation", "attention", "conv", "dropout", "embedding", "loss", "norm", "pool", "softmax")
# public functions of those files that are building blocks, not PyTorch's F functions
NOT_FUNCTIONAL = frozenset({
    "erf", "erf_array",  # torch.erf / torch.special.erf, not F.erf
    "additive_mask", "attention_weights", "dropout_multiplier",  # attention's pieces
    "pair", "dropout_mask", "dropout_nd", "embedding_renorm_", "softmax_cross_entropy",
})


def ops_of(module: ModuleType) -> dict[str, object]:
    """The F functions an op family file defines: its public functions (not those it imports), less helpers."""
    return {name: obj for name, obj in vars(module).items()
            if inspect.isfunction(obj) and obj.__module__ == module.__name__ and not name.startswith("_")
            and name not in NOT_FUNCTIONAL}


def _collect_ops() -> list[str]:
    names = []
    for family in FAMILIES:
        ops = ops_of(importlib.import_module(f"minidl.ops.{family}"))
        globals().update(ops)
        names += ops
    return names


__all__ = ["dropout1d", "dropout2d", "dropout3d", "relu", "sigmoid", "tanh", "linear", "pad", *_collect_ops()]
