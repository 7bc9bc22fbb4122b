"""Every docstring example in the library runs and prints what it says (doctest)."""

import doctest
import importlib
import pkgutil

import pytest

import minidl

SKIP = ("minidl.backends.cupy_backend", "minidl.backends.numba_cuda_backend", "minidl.backends.cuda_kernels",
        "minidl.testing.cuda_launcher_checks",
        "minidl.examples", "minidl.__main__")


def _modules() -> list[str]:
    names = []
    for info in pkgutil.walk_packages(minidl.__path__, "minidl."):
        if not info.name.startswith(SKIP):
            names.append(info.name)
    return names


@pytest.mark.parametrize("name", _modules())
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False)
    assert result.failed == 0, f"{result.failed} docstring example(s) failed in {name}"
