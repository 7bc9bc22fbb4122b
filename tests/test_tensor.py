"""Tensor creation, conversion, properties and seeded randomness."""

import numpy as np
import pytest

import minidl


def test_properties_and_conversion():
    x = minidl.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], requires_grad=True)
    assert x.shape == (2, 3) and x.ndim == 2 and x.size() == (2, 3) and x.numel() == 6 and len(x) == 2
    assert x.is_leaf and x.requires_grad and x.grad is None
    assert x.T.shape == (3, 2)
    assert x.detach().numpy().tolist() == [[1, 2, 3], [4, 5, 6]]
    assert x.tolist() == [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]
    assert x[1, 2].item() == 6.0 and float(x[0, 0]) == 1.0
    with pytest.raises(RuntimeError, match="detach"):
        x.numpy()
    with pytest.raises(ValueError, match="one-element"):
        x.item()
    assert x.double().dtype == np.float64 and x.double().requires_grad
    assert np.asarray(x).shape == (2, 3)
    assert "requires_grad=True" in repr(x) and "grad_fn=<Mul>" in repr(x * 2)


def test_from_numpy_shares_memory_and_tensor_copies():
    a = np.zeros(3, dtype=np.float32)
    t, c = minidl.from_numpy(a), minidl.tensor(a)
    a[0] = 7
    assert t[0].item() == 7 and c[0].item() == 0
    assert minidl.as_tensor(a).array is a


def test_creation_functions():
    assert minidl.ones(2, 3).tolist() == [[1, 1, 1], [1, 1, 1]]
    assert minidl.full((2,), 1.5).tolist() == [1.5, 1.5]
    assert minidl.eye(2).tolist() == [[1, 0], [0, 1]]
    assert minidl.linspace(0, 1, 3).tolist() == [0, 0.5, 1]
    assert minidl.arange(1, 7, 2).tolist() == [1, 3, 5]
    x = minidl.randn(2, 3, dtype=np.float64)
    assert minidl.zeros_like(x).dtype == np.float64 and minidl.ones_like(x).shape == (2, 3)
    assert minidl.full_like(x, 2.0).tolist() == [[2.0] * 3] * 2
    assert minidl.empty(4).shape == (4,) and minidl.empty_like(x).shape == (2, 3)
    r = minidl.randint(0, 5, size=(100,))
    assert r.dtype == np.int64 and 0 <= r.min().item() and r.max().item() < 5


def test_manual_seed_and_generators_are_deterministic():
    minidl.manual_seed(123)
    a = minidl.randn(5)
    minidl.manual_seed(123)
    b = minidl.randn(5)
    assert a.tolist() == b.tolist()
    g1, g2 = minidl.Generator(7), minidl.Generator(7)
    assert minidl.rand(3, generator=g1).tolist() == minidl.rand(3, generator=g2).tolist()
    state = g1.get_state()
    first = minidl.randn(2, generator=g1).tolist()
    g1.set_state(state)
    assert minidl.randn(2, generator=g1).tolist() == first


def test_numpy_array_on_the_left_gives_a_tensor():
    y = np.ones(2, dtype=np.float32) * minidl.tensor([2.0, 3.0], requires_grad=True)
    assert isinstance(y, minidl.Tensor) and y.requires_grad and y.tolist() == [2.0, 3.0]
