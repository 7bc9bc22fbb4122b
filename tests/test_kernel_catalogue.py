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


def test_every_public_base_method_is_a_listed_kernel():
    methods = {n for n, _ in inspect.getmembers(Backend, inspect.isfunction) if not n.startswith("_")}
    assert methods - HELPERS == set(KERNELS)
    assert len(KERNELS) == len(set(KERNELS)), "a kernel is listed twice"


def test_numpy_backend_implements_every_kernel():
    for name in KERNELS:
        assert getattr(NumpyBackend, name) is not getattr(Backend, name), f"NumpyBackend lacks the kernel {name}"


def test_catalogue_lists_exactly_the_contract():
    rows = catalogue_rows()
    assert set(rows) == set(KERNELS), f"missing: {set(KERNELS) - set(rows)}, extra: {set(rows) - set(KERNELS)}"


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


def test_every_kernel_has_a_benchmark_case():
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    from kernel_cases import CASES

    assert set(CASES) == set(KERNELS), f"benchmarks/kernel_cases.py lacks {set(KERNELS) - set(CASES)}"
