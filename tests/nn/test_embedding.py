"""Embedding's PyTorch options: ``max_norm`` / ``norm_type`` (the looked-up rows renormalised in place,
under no_grad) and ``scale_grad_by_freq``: hand-computed values, the forward on every backend through
the harness, and the output, the weight after the call and the gradient against PyTorch."""

import numpy as np
import pytest

import minidl
import minidl.nn as nn
import minidl.nn.functional as F
from minidl.testing import OpCase, make_op_tests, randn

IDX = np.array([[1, 4, 1], [0, 2, 4]])  # rows 1 and 4 repeat; row 3 is never looked up


def _renormed(w, max_norm, p=2.0):
    """The reference: rows in IDX whose p-norm exceeds max_norm scaled by max_norm / (norm + 1e-7)."""
    w = w.copy()
    for r in np.unique(IDX):
        norm = np.linalg.norm(w[r], ord=p)
        if norm > max_norm:
            w[r] *= max_norm / (norm + 1e-7)
    return w


# The renormalisation is not differentiated (as in PyTorch): the gradient is not the derivative of the
# op, so only the forward runs through the harness (it checks the kernels every backend uses).
CASES = [
    OpCase("embedding_max_norm", lambda w: F.embedding(IDX, w, max_norm=1.0),
           lambda w: _renormed(w, 1.0)[IDX], [randn(5, 3)], backward=False),
    OpCase("embedding_max_norm_l1", lambda w: F.embedding(IDX, w, max_norm=1.5, norm_type=1.0),
           lambda w: _renormed(w, 1.5, 1)[IDX], [randn(5, 3)], backward=False),
]
test_forward, _, _ = make_op_tests(CASES)


def test_max_norm_by_hand():
    w = minidl.tensor([[3.0, 4.0], [0.3, 0.4], [6.0, 8.0], [0.0, 2.0]], requires_grad=True)
    y = F.embedding(minidl.tensor([0, 1, 0, 3]), w, max_norm=1.0)
    scale = 1.0 / (5.0 + 1e-7)  # row 0 has norm 5: scaled once, although it is looked up twice
    want_w = np.array([[3.0 * scale, 4.0 * scale], [0.3, 0.4], [6.0, 8.0], [0.0, 2.0 / (2.0 + 1e-7)]])
    np.testing.assert_allclose(w.detach().numpy(), want_w, rtol=1e-6)  # row 2 is not looked up: untouched
    np.testing.assert_allclose(y.detach().numpy(), want_w[[0, 1, 0, 3]], rtol=1e-6)
    assert w.is_leaf and w.requires_grad
    y.sum().backward()  # the plain lookup's gradient: how often each row was used
    np.testing.assert_array_equal(w.grad.numpy(), [[2, 2], [1, 1], [0, 0], [1, 1]])
    inf = F.embedding(minidl.tensor([2]), minidl.tensor([[0.0], [0.0], [-3.0]]), max_norm=2.0, norm_type=float("inf"))
    np.testing.assert_allclose(inf.numpy(), [[-2.0 * 3.0 / (3.0 + 1e-7)]], rtol=1e-6)


def test_max_norm_module_changes_its_weight_and_bumps_the_version():
    """The in-place change is seen by a graph that saved the old weight: backward refuses (PyTorch's rule)."""
    emb = nn.Embedding(4, 2, max_norm=0.5)
    w = emb.weight
    used_before = (w * 2.0).sum()  # records w at version 0
    emb(minidl.tensor([0, 1]))
    assert np.all(np.linalg.norm(w.detach().numpy()[[0, 1]], axis=1) <= 0.5 + 1e-6)
    with pytest.raises(RuntimeError, match="inplace"):
        used_before.backward()
    assert "max_norm=0.5" in repr(emb) and "norm_type" not in repr(emb)


def test_scale_grad_by_freq_by_hand():
    w = minidl.tensor(np.ones((5, 2)), requires_grad=True)
    F.embedding(minidl.tensor(IDX), w, scale_grad_by_freq=True).sum().backward()
    np.testing.assert_array_equal(w.grad.numpy()[:, 0], [1, 1, 1, 0, 1])  # twice-used rows: 2 x 1/2


def test_sparse_is_refused_with_a_clear_error():
    with pytest.raises(NotImplementedError, match="sparse"):
        nn.Embedding(4, 2, sparse=True)
    with pytest.raises(NotImplementedError, match="sparse"):
        F.embedding(minidl.tensor([0]), minidl.randn(4, 2), sparse=True)


OPTIONS = [
    {"max_norm": 1.0},
    {"max_norm": 1.5, "norm_type": 1.0},
    {"max_norm": 0.8, "norm_type": float("inf")},
    {"max_norm": 1.2, "padding_idx": 0, "scale_grad_by_freq": True},
    {"scale_grad_by_freq": True},
]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("kwargs", OPTIONS, ids=lambda kw: "-".join(f"{k}={v}" for k, v in kw.items()))
def test_embedding_options_match_torch(kwargs, dtype):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    ref = torch.nn.Embedding(5, 3, **kwargs).to(getattr(torch, dtype))
    with torch.no_grad():
        ref.weight[3] *= 0.1  # one row under every limit
    ours = nn.Embedding(5, 3, dtype=dtype, **kwargs)
    ours.load_state_dict({k: v.detach().numpy().copy() for k, v in ref.state_dict().items()})
    w = np.random.default_rng(0).standard_normal((2, 3, 3)).astype(dtype)
    want = ref(torch.from_numpy(IDX))
    (want * torch.from_numpy(w)).sum().backward()
    got = ours(minidl.tensor(IDX))
    (got * minidl.tensor(w)).sum().backward()
    tol = {"rtol": 1e-6, "atol": 1e-7} if dtype == "float32" else {"rtol": 1e-13, "atol": 1e-15}
    np.testing.assert_allclose(got.detach().numpy(), want.detach().numpy(), **tol)
    np.testing.assert_allclose(ours.weight.detach().numpy(), ref.weight.detach().numpy(), **tol)
    np.testing.assert_allclose(ours.weight.grad.numpy(), ref.weight.grad.numpy(), **tol)
    # the functional form renormalises the weight it is given, as torch.nn.functional.embedding does
    a, b = ours.weight.detach().numpy().copy() * 3, ref.weight.detach().clone() * 3
    ta, tb = minidl.tensor(a), b
    options = {k: v for k, v in kwargs.items() if k != "scale_grad_by_freq"}
    np.testing.assert_allclose(F.embedding(minidl.tensor(IDX), ta, **options).numpy(),
                               torch.nn.functional.embedding(torch.from_numpy(IDX), tb, **options).numpy(), **tol)
    np.testing.assert_allclose(ta.numpy(), tb.numpy(), **tol)


def test_from_pretrained_takes_the_options():
    table = np.array([[3.0, 4.0], [0.0, 1.0]], dtype=np.float32)
    emb = nn.Embedding.from_pretrained(table, max_norm=1.0)
    assert emb.max_norm == 1.0 and not emb.weight.requires_grad
    np.testing.assert_allclose(emb(minidl.tensor([0])).numpy(), [[0.6, 0.8]], rtol=1e-6)
