"""Asking for a GPU backend that cannot run says what to install, or that no device is there."""

import sys
import types

import pytest

import minidl.backends as registry
from minidl.backends import get_backend
from minidl.errors import BackendUnavailableError

GPU_MODULES = ("minidl.backends.cupy_backend", "minidl.backends.numba_cuda_backend")


@pytest.fixture
def fresh_registry(monkeypatch):
    """Forget constructed backends and imported GPU backend modules for the length of a test
    (and drop whatever the test imported with a fake package, so later tests import afresh)."""
    monkeypatch.setattr(registry, "_instances", {})
    saved = {name: sys.modules.pop(name, None) for name in GPU_MODULES}
    yield
    for name, module in saved.items():
        sys.modules.pop(name, None)
        if module is not None:
            sys.modules[name] = module


def _real_numba_cuda():
    """numba.cuda of this process, skipping where numba is missing or runs the simulator."""
    pytest.importorskip("numba")
    from numba import cuda

    from minidl.backends.cuda_kernels._common import SIMULATED

    if SIMULATED:
        pytest.skip("NUMBA_ENABLE_CUDASIM is set: the simulator always has a device")
    return cuda


def test_cupy_missing_names_the_extra(monkeypatch, fresh_registry):
    monkeypatch.setitem(sys.modules, "cupy", None)  # `import cupy` raises ModuleNotFoundError
    with pytest.raises(BackendUnavailableError, match=r"pip install 'minidl\[cupy\]'"):
        get_backend("cupy")


def test_cupy_without_a_device_says_so(monkeypatch, fresh_registry):
    fake = types.ModuleType("cupy")
    fake.is_available = lambda: False  # what CuPy answers on a machine without a CUDA device
    monkeypatch.setitem(sys.modules, "cupy", fake)
    with pytest.raises(BackendUnavailableError, match="CuPy is installed but no CUDA device is available"):
        get_backend("cupy")


def test_numba_cuda_without_a_device_says_so(monkeypatch, fresh_registry):
    cuda = _real_numba_cuda()
    monkeypatch.setattr(cuda, "is_available", lambda: False)
    with pytest.raises(BackendUnavailableError, match="no CUDA device is available"):
        get_backend("numba-cuda")


def test_numba_cuda_without_cupy_names_the_extras(monkeypatch, fresh_registry):
    cuda = _real_numba_cuda()
    monkeypatch.setattr(cuda, "is_available", lambda: True)
    monkeypatch.setitem(sys.modules, "cupy", None)
    with pytest.raises(BackendUnavailableError, match=r"pip install 'minidl\[cuda,cupy\]'"):
        get_backend("numba-cuda")


def test_numba_missing_names_the_cuda_extra(monkeypatch, fresh_registry):
    monkeypatch.setitem(sys.modules, "numba", None)
    with pytest.raises(BackendUnavailableError, match=r"pip install 'minidl\[cuda\]'"):
        get_backend("numba-cuda")
