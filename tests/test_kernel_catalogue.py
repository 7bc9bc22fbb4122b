"""The kernel contract, its reference implementation and kernels/README.md stay in step."""

import inspect
import re

import pytest

from minidl.backends import KERNELS, get_backend, known
from minidl.backends.base import Backend
from minidl.backends.numpy_backend import NumpyBackend
from minidl.errors import BackendUnavailableError
from minidl.kernel_files import kernel_dir

HELPERS = {"asarray", "to_numpy", "synchronize"}


def catalogue_rows() -> dict[str, str]:
    rows = {}
    for line in (kernel_dir() / "README.md").read_text().splitlines():
        m = re.match(r"\|\s*`([a-z0-9_]+)`\s*\|(.*)", line)
        if m:
            rows[m.group(1)] = m.group(2)
    return rows


def test_the_catalogue_lists_each_kernel_once():
    """``KERNELS`` is read from kernels/README.md: the catalogue is the one list of kernel names."""
    assert KERNELS == tuple(catalogue_rows()), "minidl.backends.KERNELS is not the catalogue's rows, in order"
    assert len(KERNELS) == len(set(KERNELS)), "kernels/README.md lists a kernel twice"


def test_every_reference_method_has_a_catalogue_line():
    """A public method of NumpyBackend is a kernel: forgetting its line in the catalogue fails here."""
    methods = {n for n, _ in inspect.getmembers(NumpyBackend, inspect.isfunction) if not n.startswith("_")}
    missing = methods - HELPERS - set(KERNELS)
    assert not missing, f"kernels/README.md has no line for the NumpyBackend method(s) {sorted(missing)}"


def test_numpy_backend_implements_every_kernel():
    """A catalogue line without its reference implementation fails here."""
    missing = [name for name in KERNELS if not callable(getattr(NumpyBackend, name, None))]
    assert not missing, f"minidl/backends/numpy_backend.py has no reference method for {missing}"


def test_the_base_class_holds_only_the_array_helpers():
    methods = {n for n, _ in inspect.getmembers(Backend, inspect.isfunction) if not n.startswith("_")}
    assert methods == HELPERS, f"kernels belong in NumpyBackend, not Backend: {sorted(methods - HELPERS)}"


@pytest.mark.parametrize("name", known())
def test_catalogue_names_the_backends_that_override(name):
    try:
        backend = get_backend(name)
    except BackendUnavailableError as e:
        pytest.skip(str(e))
    rows = catalogue_rows()
    for kernel in KERNELS:
        overridden = type(backend) is not NumpyBackend and any(
            kernel in cls.__dict__ for cls in type(backend).__mro__ if cls not in (NumpyBackend, Backend, object)
        )
        if overridden:
            last_column = rows[kernel].rstrip(" |").rsplit("|", 1)[-1]
            assert name in last_column, f"kernels/README.md: {kernel} is overridden by {name}; say so in its row"


@pytest.mark.parametrize("size", ["tiny", "small", "large"])
def test_every_kernel_has_a_case_of_each_size(size):
    """A check (tiny) and the two sizes asv times: one table, ``minidl/testing/kernel_cases.py``."""
    from minidl.testing.kernel_cases import ALL_CASES

    missing = set(KERNELS) - {c.kernel for c in ALL_CASES if c.size == size}
    assert not missing, f"minidl/testing/kernel_cases.py has no {size!r} row for {sorted(missing)}"
    if size != "tiny":
        rows = [c.kernel for c in ALL_CASES if c.size == size]
        assert len(rows) == len(set(rows)), f"minidl/testing/kernel_cases.py: a kernel has two {size!r} rows"
