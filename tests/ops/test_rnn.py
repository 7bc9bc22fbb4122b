"""Fused LSTM and GRU cells through the shared harness (forward vs NumPy float64, gradcheck, double
backward through the op-composed formulas), the kernels against each other, and long unrolls."""

import numpy as np
import pytest

import minidl
from minidl.ops.rnn import gru_cell, gru_sequence, lstm_cell, lstm_sequence
from minidl.testing import OpCase, make_op_tests, randn


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


def lstm_reference(z, c_prev):
    i, f, g, o = np.split(z, 4, axis=1)
    c = _sigmoid(f) * c_prev + _sigmoid(i) * np.tanh(g)
    return _sigmoid(o) * np.tanh(c), c


def gru_reference(a, b, h_prev):
    (a_r, a_z, a_n), (b_r, b_z, b_n) = np.split(a, 3, axis=1), np.split(b, 3, axis=1)
    r, z = _sigmoid(a_r + b_r), _sigmoid(a_z + b_z)
    n = np.tanh(a_n + r * b_n)
    return (1 - z) * n + z * h_prev


def lstm_sequence_reference(xw, h, c, w_hh):
    outputs = []
    for t in range(xw.shape[0]):
        h, c = lstm_reference(xw[t] + h @ w_hh.T, c)
        outputs.append(h)
    return np.stack(outputs), h, c


def gru_sequence_reference(xa, h, w_hh, b_hh=None):
    outputs = []
    for t in range(xa.shape[0]):
        h = gru_reference(xa[t], h @ w_hh.T + (0 if b_hh is None else b_hh), h)
        outputs.append(h)
    return np.stack(outputs), h


# a padded batch: sequence 0 has all 4 steps, sequence 1 only 2 (its steps 2 and 3 keep the state, output 0)
MASK = np.array([[True, True], [True, True], [True, False], [True, False]])


def masked_lstm_reference(xw, h, c, w_hh):
    outputs = []
    for t in range(xw.shape[0]):
        h_new, c_new = lstm_reference(xw[t] + h @ w_hh.T, c)
        m = MASK[t][:, None]
        h, c = np.where(m, h_new, h), np.where(m, c_new, c)
        outputs.append(h_new * m)
    return np.stack(outputs), h, c


def masked_gru_reference(xa, h, w_hh, b_hh):
    outputs = []
    for t in range(xa.shape[0]):
        h_new = gru_reference(xa[t], h @ w_hh.T + b_hh, h)
        m = MASK[t][:, None]
        h = np.where(m, h_new, h)
        outputs.append(h_new * m)
    return np.stack(outputs), h


CASES = [
    OpCase("lstm_cell", lstm_cell, lstm_reference, [randn(3, 8, scale=2), randn(3, 2)]),
    OpCase("lstm_cell_h_only", lambda z, c: lstm_cell(z, c)[0], lambda z, c: lstm_reference(z, c)[0],
           [randn(2, 12), randn(2, 3)]),
    OpCase("gru_cell", gru_cell, gru_reference, [randn(3, 6, scale=2), randn(3, 6), randn(3, 2)]),
    # a whole little unrolled LSTM: the cells chained through their states
    OpCase("lstm_chain", lambda z1, z2, c: lstm_cell(z2, lstm_cell(z1, c)[1])[0],
           lambda z1, z2, c: lstm_reference(z2, lstm_reference(z1, c)[1])[0],
           [randn(2, 8), randn(2, 8), randn(2, 2)]),
    # the whole layer as one op: outputs, h_T and c_T, gradients to xw, h0, c0 and W_hh
    OpCase("lstm_sequence", lstm_sequence, lstm_sequence_reference,
           [randn(4, 2, 12), randn(2, 3), randn(2, 3), randn(12, 3, scale=0.7)]),
    # the whole GRU layer as one op, with and without b_hh
    OpCase("gru_sequence", gru_sequence, gru_sequence_reference,
           [randn(4, 2, 9), randn(2, 3), randn(9, 3, scale=0.7), randn(9)]),
    OpCase("gru_sequence_no_bias", gru_sequence, gru_sequence_reference,
           [randn(3, 2, 6), randn(2, 2), randn(6, 2, scale=0.7)]),
    # variable lengths: the fused layers with a mask
    OpCase("lstm_sequence_masked", lambda xw, h, c, w: lstm_sequence(xw, h, c, w, MASK), masked_lstm_reference,
           [randn(4, 2, 12), randn(2, 3), randn(2, 3), randn(12, 3, scale=0.7)]),
    OpCase("gru_sequence_masked", lambda xa, h, w, b: gru_sequence(xa, h, w, b, mask=MASK), masked_gru_reference,
           [randn(4, 2, 9), randn(2, 3), randn(9, 3, scale=0.7), randn(9)]),
]

test_forward, test_backward, test_double_backward = make_op_tests(CASES)


def test_cells_reject_mismatched_shapes():
    with pytest.raises(minidl.ShapeError, match="lstm_cell"):
        lstm_cell(minidl.zeros(2, 10), minidl.zeros(2, 3))
    with pytest.raises(minidl.ShapeError, match="gru_cell"):
        gru_cell(minidl.zeros(2, 9), minidl.zeros(2, 6), minidl.zeros(2, 3))


def test_kernels_match_the_composed_gradient():
    """The fused backward kernels (first order) and the op-composed formulas (create_graph) agree."""
    rng = np.random.default_rng(0)
    z = minidl.tensor(rng.standard_normal((4, 20)), requires_grad=True)
    c = minidl.tensor(rng.standard_normal((4, 5)), requires_grad=True)
    h, c1 = lstm_cell(z, c)
    loss = (h * minidl.tensor(rng.standard_normal((4, 5)))).sum() + (c1 * c1).sum()
    fast = minidl.grad(loss, [z, c], retain_graph=True)
    composed = minidl.grad(loss, [z, c], create_graph=True)
    for f, g in zip(fast, composed, strict=True):
        np.testing.assert_allclose(f.numpy(), g.detach().numpy(), rtol=1e-12, atol=1e-12)


def _lstm_1000_steps_numpy(x, w):
    """sum(h_T) of the unrolled recurrence z_t = x_t + h_{t-1} w, in plain NumPy float64."""
    h = c = np.zeros((x.shape[1], w.shape[0]))
    for xt in x:
        h, c = lstm_reference(xt + h @ w, c)
    return h.sum()


def test_backprop_through_1000_steps():
    """BPTT over T = 1000 LSTM steps: no recursion error, and dL/dw, dL/dx_0 and dL/dx agree with central
    differences of an independent NumPy unroll. The forget gates are biased open (sigmoid(6) = 0.9975) and the
    input gates nearly shut (sigmoid(-3) = 0.05, so c stays out of tanh's flat tails): the first step's
    influence survives 1000 steps (0.9975^1000 = 0.08) and is checked too."""
    rng = np.random.default_rng(0)
    T, B, H = 1000, 2, 3
    w0 = rng.standard_normal((H, 4 * H)) * 0.3
    x0 = rng.standard_normal((T, B, 4 * H)) * 0.5
    x0[:, :, :H] -= 3.0
    x0[:, :, H:2 * H] += 6.0
    w = minidl.tensor(w0, requires_grad=True)
    x = minidl.tensor(x0, requires_grad=True)
    h = c = minidl.zeros(B, H, dtype=np.float64)
    for t in range(T):
        h, c = lstm_cell(x[t] + h @ w, c)
    h.sum().backward()
    gw, gx = w.grad.numpy(), x.grad.numpy()

    eps = 1e-6
    directions = [(rng.standard_normal(w0.shape), np.zeros_like(x0)),  # along w
                  (np.zeros_like(w0), np.where(np.arange(T)[:, None, None] == 0, rng.standard_normal(x0.shape), 0)),
                  (np.zeros_like(w0), rng.standard_normal(x0.shape))]  # along x_0 only, and along all of x
    for dw, dx in directions:
        numeric = (_lstm_1000_steps_numpy(x0 + eps * dx, w0 + eps * dw)
                   - _lstm_1000_steps_numpy(x0 - eps * dx, w0 - eps * dw)) / (2 * eps)
        np.testing.assert_allclose((gw * dw).sum() + (gx * dx).sum(), numeric, rtol=1e-6)
    assert 1e-4 < np.abs(gx[0]).max() < 0.1 * np.abs(gx[-1]).max()  # the first step is reached, and fades

    # float32: the same gradients, in float32
    w32 = minidl.tensor(w0.astype(np.float32), requires_grad=True)
    x32 = minidl.tensor(x0.astype(np.float32), requires_grad=True)
    h = c = minidl.zeros(B, H)
    for t in range(T):
        h, c = lstm_cell(x32[t] + h @ w32, c)
    h.sum().backward()
    assert w32.grad.dtype == x32.grad.dtype == np.float32
    np.testing.assert_allclose(w32.grad.numpy(), gw, rtol=1e-3, atol=1e-4 * np.abs(gw).max())
    np.testing.assert_allclose(x32.grad.numpy(), gx, rtol=1e-3, atol=1e-4 * np.abs(gx).max())


def test_backprop_through_a_1000_step_linear_recurrence_matches_the_closed_form():
    """h_t = a h_{t-1} + x_t (h_0 = 0), L = sum_t h_t = sum_{s <= t} a^(t-s) x_s, so
    dL/dx_s = sum_{k=0}^{T-1-s} a^k = (1 - a^(T-s)) / (1 - a)  and  dL/da = sum_{s < t} (t-s) a^(t-s-1) x_s.
    Every h_t is used twice (next step and the sum): a wrong order of the backward walk shows up here."""
    T, a0 = 1000, 0.995
    x0 = np.random.default_rng(1).standard_normal(T)
    a = minidl.tensor(a0, dtype=np.float64, requires_grad=True)
    x = minidl.tensor(x0, requires_grad=True)
    h = total = minidl.tensor(0.0, dtype=np.float64)
    for t in range(T):
        h = a * h + x[t]
        total = total + h
    total.backward()
    s = np.arange(T)
    np.testing.assert_allclose(x.grad.numpy(), (1 - a0 ** (T - s)) / (1 - a0), rtol=1e-10)
    lag = s[:, None] - s[None, :]  # lag[t, s] = t - s
    da = np.where(lag > 0, lag * a0 ** np.maximum(lag - 1, 0), 0.0) @ x0
    np.testing.assert_allclose(a.grad.item(), da.sum(), rtol=1e-9)


def _lstm_by_cells(xw, h, c, w):
    outs = []
    for t in range(xw.shape[0]):
        h, c = lstm_cell(xw[t] + h @ w.mT, c)
        outs.append(h)
    return minidl.stack(outs), h, c


def _gru_by_cells(xa, h, w, b):
    outs = []
    for t in range(xa.shape[0]):
        h = gru_cell(xa[t], h @ w.mT + b, h)
        outs.append(h)
    return minidl.stack(outs), h


def _assert_fused_matches_unrolled(fused, by_cells, shapes, state_loss, seed):
    """Run the fused layer op and the same layer as T fused cells chained by hand on the same float64
    inputs; the outputs and the gradients of every input must agree."""
    rng = np.random.default_rng(seed)
    arrays = [rng.standard_normal(s) for s in shapes]
    fused_in = [minidl.tensor(a, requires_grad=True) for a in arrays]
    cells_in = [minidl.tensor(a, requires_grad=True) for a in arrays]
    fused_out, cells_out = fused(*fused_in), by_cells(*cells_in)
    weights = minidl.tensor(rng.standard_normal(fused_out[0].shape))
    for out, *states in (fused_out, cells_out):
        ((out * weights).sum() + state_loss(*states)).backward()
    np.testing.assert_allclose(fused_out[0].detach().numpy(), cells_out[0].detach().numpy(), rtol=1e-12)
    for a, b in zip(fused_in, cells_in, strict=True):
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_lstm_sequence_matches_the_unrolled_cells():
    T, B, H = 6, 3, 4
    _assert_fused_matches_unrolled(lstm_sequence, _lstm_by_cells, ((T, B, 4 * H), (B, H), (B, H), (4 * H, H)),
                                   lambda h, c: (h * c).sum(), seed=1)


def test_lstm_sequence_rejects_mismatched_shapes():
    with pytest.raises(minidl.ShapeError, match=r"lstm_sequence: got shapes \(5, 2, 12\) and \(2, 4\)"):
        lstm_sequence(minidl.zeros(5, 2, 12), minidl.zeros(2, 4), minidl.zeros(2, 4), minidl.zeros(16, 4))


def test_gru_sequence_matches_the_unrolled_cells():
    T, B, H = 5, 3, 4
    _assert_fused_matches_unrolled(gru_sequence, _gru_by_cells, ((T, B, 3 * H), (B, H), (3 * H, H), (3 * H,)),
                                   lambda h: (h * h).sum(), seed=2)


def test_gru_sequence_rejects_mismatched_shapes():
    with pytest.raises(minidl.ShapeError, match=r"gru_sequence: got shapes \(5, 2, 9\) and \(2, 4\)"):
        gru_sequence(minidl.zeros(5, 2, 9), minidl.zeros(2, 4), minidl.zeros(12, 4))


def test_sequence_mask_is_checked():
    with pytest.raises(minidl.ShapeError, match="lstm_sequence"):
        lstm_sequence(minidl.zeros(5, 2, 12), minidl.zeros(2, 3), minidl.zeros(2, 3), minidl.zeros(12, 3),
                      np.ones((5, 3), bool))
