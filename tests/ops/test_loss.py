"""Losses through the shared harness: forward vs independent NumPy float64 formulas, gradients vs
finite differences (double backward too), float32 vs float64, every backend; plus the fused
softmax cross-entropy kernel's stability at logits of +-1e4 and its error messages."""

import numpy as np
import pytest

import minidl
from minidl.ops import loss as L
from minidl.testing import OpCase, fixed, make_op_tests, randn, uniform

T = np.array([2, 0, 3, 1, 3])  # class targets for 5 rows of 4 classes
W = np.array([0.5, 2.0, 1.0, 1.5])
T_IGN = np.array([2, -100, 3, 1, -100])


def _log_softmax(x, axis=-1):
    m = x.max(axis=axis, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=axis, keepdims=True))


def _ce_ref(x, t, w=None, ignore=-100, reduction="mean", eps=0.0):
    """Cross-entropy written directly from its definition (rows of classes)."""
    logp = _log_softmax(x)
    n, c = x.shape
    w = np.ones(c) if w is None else w
    valid = t != ignore
    safe = np.where(valid, t, 0)
    nll = -w[safe] * logp[np.arange(n), safe] * valid
    smooth = -(logp * w).sum(-1) * valid / c
    loss = (1 - eps) * nll + eps * smooth
    if reduction == "none":
        return loss
    return loss.sum() if reduction == "sum" else loss.sum() / (w[safe] * valid).sum()


def _bce_logits_ref(x, t, pos_weight=1.0):
    sig = 1 / (1 + np.exp(-x))
    return -(pos_weight * t * np.log(sig) + (1 - t) * np.log(1 - sig))


def _huber(d, delta):
    return np.where(np.abs(d) < delta, 0.5 * d * d, delta * (np.abs(d) - 0.5 * delta))


def _ce_ignore_mean_ref(x):
    """Unweighted mean over the rows that are not ignored: 3 valid rows of 5, so the sum is divided by 3."""
    rows = np.flatnonzero(T_IGN != -100)
    logp = x[rows] - np.log(np.exp(x[rows]).sum(-1, keepdims=True))
    return -logp[np.arange(len(rows)), T_IGN[rows]].sum() / len(rows)


def _nll_ref(x):
    rows = [(i, t) for i, t in enumerate(T_IGN) if t != -100]
    return -sum(W[t] * x[i, t] for i, t in rows) / sum(W[t] for _, t in rows)


PROBS = uniform(3, 4, low=0.05, high=0.95)
TARGET01 = uniform(3, 4, low=0.0, high=1.0)
DIFF_AWAY_FROM_KINKS = fixed([[1.7, -0.2, 0.45], [-2.5, 0.9, -0.6]])  # x - 0 never near 0 or +-delta

CASES = [
    OpCase("softmax_cross_entropy", lambda x: L.softmax_cross_entropy(x, T), lambda x: _ce_ref(x, T, reduction="none"),
           [randn(5, 4, scale=2)]),
    OpCase("cross_entropy", lambda x: L.cross_entropy(x, T), lambda x: _ce_ref(x, T), [randn(5, 4)]),
    OpCase("cross_entropy_sum", lambda x: L.cross_entropy(x, T, reduction="sum"),
           lambda x: _ce_ref(x, T, reduction="sum"), [randn(5, 4)]),
    OpCase("cross_entropy_ignore_mean", lambda x: L.cross_entropy(x, T_IGN), _ce_ignore_mean_ref, [randn(5, 4)]),
    OpCase("nll_loss_ignore_mean", lambda x: L.nll_loss(x, T_IGN),
           lambda x: -x[[0, 2, 3], T_IGN[[0, 2, 3]]].mean(), [randn(5, 4)]),
    OpCase("cross_entropy_weight_ignore", lambda x: L.cross_entropy(x, T_IGN, weight=W.astype(x.dtype)),
           lambda x: _ce_ref(x, T_IGN, W), [randn(5, 4)]),
    OpCase("cross_entropy_label_smoothing", lambda x: L.cross_entropy(x, T_IGN, weight=W, label_smoothing=0.1,
                                                                      reduction="none"),
           lambda x: _ce_ref(x, T_IGN, W, reduction="none", eps=0.1), [randn(5, 4)]),
    OpCase("cross_entropy_spatial", lambda x: L.cross_entropy(x, T.reshape(1, 5)[:, :4].reshape(1, 2, 2)),
           lambda x: _ce_ref(x.transpose(0, 2, 3, 1).reshape(-1, 4), T[:4]), [randn(1, 4, 2, 2)]),
    OpCase("cross_entropy_probabilities", lambda x, p: L.cross_entropy(x, p, label_smoothing=0.2),  # dL/dp too
           lambda x, p: -((0.8 * p + 0.05) * _log_softmax(x)).sum(-1).mean(),
           [randn(3, 4), fixed(np.full((3, 4), 0.25) + np.array([0.3, -0.1, -0.1, -0.1]))]),
    OpCase("nll_loss", lambda x: L.nll_loss(x, T_IGN, weight=W), _nll_ref, [randn(5, 4)]),
    OpCase("nll_loss_none", lambda x: L.nll_loss(x, T, reduction="none"), lambda x: -x[np.arange(5), T],
           [randn(5, 4)]),
    OpCase("binary_cross_entropy", lambda p, t: L.binary_cross_entropy(p, t),
           lambda p, t: -(t * np.log(p) + (1 - t) * np.log(1 - p)).mean(), [PROBS, TARGET01]),
    OpCase("bce_with_logits_pos_weight", lambda x, t: L.binary_cross_entropy_with_logits(
        x, t, pos_weight=np.array([1.0, 2.0, 0.5, 3.0]), reduction="sum"),
           lambda x, t: _bce_logits_ref(x, t, np.array([1.0, 2.0, 0.5, 3.0])).sum(), [randn(3, 4, scale=2), TARGET01]),
    OpCase("mse_loss", lambda x, t: L.mse_loss(x, t), lambda x, t: ((x - t) ** 2).mean(), [randn(3, 4), randn(3, 4)]),
    OpCase("l1_loss", lambda x: L.l1_loss(x, np.zeros((2, 3)), reduction="sum"), lambda x: np.abs(x).sum(),
           [DIFF_AWAY_FROM_KINKS]),
    OpCase("huber_loss", lambda x: L.huber_loss(x, np.zeros((2, 3)), delta=0.7, reduction="none"),
           lambda x: _huber(x, 0.7), [DIFF_AWAY_FROM_KINKS]),
    OpCase("smooth_l1_loss", lambda x: L.smooth_l1_loss(x, np.zeros((2, 3)), beta=0.7),
           lambda x: (_huber(x, 0.7) / 0.7).mean(), [DIFF_AWAY_FROM_KINKS]),
    OpCase("kl_div_batchmean", lambda x, t: L.kl_div(_log_softmax_t(x), t, reduction="batchmean"),
           lambda x, t: (t * (np.log(t) - _log_softmax(x))).sum() / 3,
           [randn(3, 4), fixed(np.array([[0.1, 0.2, 0.3, 0.4], [0.25] * 4, [0.7, 0.1, 0.1, 0.1]]))]),
]


def _log_softmax_t(x):
    return minidl.log_softmax(x, -1)


test_forward, test_backward, test_double_backward = make_op_tests(CASES)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cross_entropy_is_finite_and_exact_for_huge_logits(dtype):
    x = minidl.tensor(np.array([[1e4, -1e4, 0.0], [-1e4, -1e4, 1e4], [1e4, 1e4, -1e4]], dtype=dtype),
                      requires_grad=True)
    loss = L.cross_entropy(x, minidl.tensor([1, 2, 0]), reduction="none")
    # row 0: the target's logit is 2e4 below the max -> loss 2e4; row 1: certain and right -> 0; row 2: log 2
    np.testing.assert_allclose(loss.detach().numpy(), [2e4, 0.0, np.log(2)], rtol=1e-6)
    loss.sum().backward()
    # float32 holds 1e4 to 1e-3: softmax rebuilt from lse = 1e4 + log 2 is that accurate, no more
    atol = 2e-3 if dtype == np.float32 else 1e-9
    np.testing.assert_allclose(x.grad.numpy(), [[1, -1, 0], [0, 0, 0], [-0.5, 0.5, 0]], atol=atol)
    assert loss.dtype == dtype and x.grad.dtype == dtype


def test_bce_with_logits_is_finite_for_huge_logits():
    x = minidl.tensor([1e4, -1e4, 0.0], requires_grad=True)
    loss = L.binary_cross_entropy_with_logits(x, minidl.tensor([0.0, 0.0, 1.0]), reduction="none")
    np.testing.assert_allclose(loss.detach().numpy(), [1e4, 0.0, np.log(2)], rtol=1e-6)
    loss.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [1.0, 0.0, -0.5], atol=1e-6)


def test_binary_cross_entropy_clamps_the_log_at_minus_100():
    loss = L.binary_cross_entropy(minidl.tensor([0.0, 1.0]), minidl.tensor([1.0, 0.0]), reduction="none")
    np.testing.assert_allclose(loss.numpy(), [100.0, 100.0])


def test_all_ignored_rows_give_zero_sum_and_zero_gradient():
    x = minidl.randn(3, 4, requires_grad=True)
    loss = L.cross_entropy(x, minidl.tensor([-100, -100, -100]), reduction="sum")
    loss.backward()
    loss = loss.detach()
    assert float(loss) == 0.0 and not x.grad.numpy().any()


def test_errors_name_the_op_and_shapes():
    x = minidl.zeros(5, 4)
    with pytest.raises(IndexError, match=r"cross_entropy: target 4 is out of range for 4 classes"):
        L.cross_entropy(x, minidl.tensor([0, 1, 4, 0, 0]))
    with pytest.raises(ValueError, match=r"cross_entropy: got shapes \(5, 4\) and \(3,\)"):
        L.cross_entropy(x, minidl.tensor([0, 1, 2]))
    with pytest.raises(ValueError, match=r"mse_loss: got shapes \(5, 4\) and \(4,\)"):
        L.mse_loss(x, minidl.zeros(4))
    with pytest.raises(ValueError, match="reduction"):
        L.mse_loss(x, x, reduction="avg")
