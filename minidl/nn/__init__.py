"""``minidl.nn``: layers, losses and the ``Module`` they are built on (PyTorch names and semantics).

>>> import minidl, minidl.nn as nn
>>> model = nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, 1))
>>> model(minidl.zeros(4, 2)).shape
minidl.Size([4, 1])
>>> model.num_parameters()
33

A layer needs no line here: every public ``Module`` subclass defined in a file of this package is
``nn.<Name>`` (``layers_of`` below), so adding a layer touches its own file and its test only.
``tests/test_contributing.py`` checks that every layer is reachable this way.
"""

import importlib  # noqa: I001  (Parameter and Module first: the layers import them)
import pkgutil
from types import ModuleType

from minidl.nn.parameter import Parameter
from minidl.nn.module import IncompatibleKeys, Module
from minidl.nn import init
from minidl.nn import utils
from minidl.nn import functional


def layers_of(module: ModuleType) -> dict[str, type]:
    """The layers a file of ``minidl.nn`` defines: its public ``Module`` subclasses (not those it imports)."""
    return {name: obj for name, obj in vars(module).items()
            if isinstance(obj, type) and issubclass(obj, Module) and obj.__module__ == module.__name__
            and not name.startswith("_")}


def _collect_layers() -> list[str]:
    names = []
    for info in pkgutil.iter_modules(__path__):  # activation, attention, containers, conv, ... (alphabetical)
        layers = layers_of(importlib.import_module(f"{__name__}.{info.name}"))
        globals().update(layers)
        names += layers
    return names


__all__ = ["Parameter", "Module", "IncompatibleKeys", "init", "utils", "functional", "layers_of",
           *_collect_layers()]
