"""On a machine with a CUDA device: every tiny case of minidl/testing/kernel_cases.py on both GPU backends
against NumPy, and tensors moving between backends. Everywhere else these skip with the reason."""

import numpy as np
import pytest

from minidl.backends import get_backend
from minidl.errors import BackendUnavailableError
from minidl.testing.kernel_cases import CASES, check_case, overridden_kernels

GPU_BACKENDS = ["cupy", "numba-cuda"]


def _backend(name):
    try:
        backend = get_backend(name)
    except BackendUnavailableError as e:
        pytest.skip(str(e))
    if not backend.is_gpu:
        pytest.skip(f"{name} runs in the CUDA simulator in this process")
    return backend


@pytest.mark.gpu
@pytest.mark.parametrize("name", GPU_BACKENDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_kernel_matches_numpy(name, case, dtype):
    check_case(_backend(name), case, dtype)


@pytest.mark.gpu
@pytest.mark.parametrize("name", GPU_BACKENDS)
def test_every_override_has_a_case(name):
    assert overridden_kernels(_backend(name)) <= {c.kernel for c in CASES}


@pytest.mark.gpu
@pytest.mark.parametrize("name", GPU_BACKENDS)
def test_tensor_round_trip(name):
    import minidl

    _backend(name)
    x = minidl.tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    y = x.to(name)
    assert y.backend.name == name
    (minidl.softmax(y, axis=-1) * y).sum().backward()
    expected = minidl.tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    (minidl.softmax(expected, axis=-1) * expected).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), expected.grad.numpy(), rtol=1e-12)
