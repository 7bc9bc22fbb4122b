"""Recurrent layers: the cells and layers against an independent NumPy time loop (through the shared
harness: forward, gradcheck, double backward), PyTorch's names, shapes and layout, variable lengths,
dropout between layers, long unrolls, and PyTorch weights giving PyTorch's outputs."""

import numpy as np
import pytest

import minidl
import minidl.nn as nn
from minidl.nn.rnn import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNCell
from minidl.testing import OpCase, make_op_tests, randn


# --------------------------------------------------------------------------- NumPy reference
def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


def np_step(mode, x, h, c, w_ih, w_hh, b_ih, b_hh):
    """One step, straight from the equations (PyTorch's gate order)."""
    H = h.shape[-1]
    gi, gh = x @ w_ih.T + b_ih, h @ w_hh.T + b_hh
    if mode == "LSTM":
        z = gi + gh
        i, f, g, o = _sigmoid(z[:, :H]), _sigmoid(z[:, H:2 * H]), np.tanh(z[:, 2 * H:3 * H]), _sigmoid(z[:, 3 * H:])
        c = f * c + i * g
        return o * np.tanh(c), c
    if mode == "GRU":
        r = _sigmoid(gi[:, :H] + gh[:, :H])
        z = _sigmoid(gi[:, H:2 * H] + gh[:, H:2 * H])
        n = np.tanh(gi[:, 2 * H:] + r * gh[:, 2 * H:])
        return (1 - z) * n + z * h, None
    pre = gi + gh
    return (np.tanh(pre) if mode == "RNN_TANH" else np.maximum(pre, 0)), None


def np_rnn(mode, x, params, num_layers=1, bidirectional=False, h0=None, c0=None, lengths=None):
    """A whole (T, B, I) sequence, layer by layer, direction by direction, one step at a time."""
    T, B, _ = x.shape
    D = 2 if bidirectional else 1
    H = params["weight_hh_l0"].shape[1]
    lengths = np.full(B, T) if lengths is None else np.asarray(lengths)
    h_n, c_n = [], []
    for layer in range(num_layers):
        outs = []
        for d in range(D):
            sfx = "_reverse" if d else ""
            w = [params.get(f"{n}_l{layer}{sfx}", 0.0) for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
            k = layer * D + d
            out = np.zeros((T, B, H))
            hs, cs = [], []
            for b in range(B):  # each sequence on its own, only over its true length
                h = np.zeros((1, H)) if h0 is None else h0[k, b:b + 1]
                c = np.zeros((1, H)) if c0 is None else c0[k, b:b + 1]
                steps = range(lengths[b] - 1, -1, -1) if d else range(lengths[b])
                for t in steps:
                    h, c = np_step(mode, x[t, b:b + 1], h, c, *w)
                    out[t, b] = h[0]
                hs.append(h[0])
                cs.append(None if c is None else c[0])
            outs.append(out)
            h_n.append(np.stack(hs))
            c_n.append(np.stack(cs) if mode == "LSTM" else None)
        x = np.concatenate(outs, axis=2)
    return x, np.stack(h_n), (np.stack(c_n) if mode == "LSTM" else None)


# --------------------------------------------------------------------------- harness cases
def functional_call(module, names, tensors, *args, **kwargs):
    """Run ``module`` with the given tensors in place of its parameters (so gradients reach them)."""
    saved = {n: module._parameters[n] for n in names}
    module._parameters.update(zip(names, tensors, strict=True))
    try:
        return module(*args, **kwargs)
    finally:
        module._parameters.update(saved)


def layer_case(name, cls, mode, T=3, B=2, I=3, H=2, num_layers=1, bidirectional=False, lengths=None,
               directional=False, **kw):
    module = cls(I, H, num_layers=num_layers, bidirectional=bidirectional, **kw)
    names = [n for n, _ in module.named_parameters()]
    shapes = [p.shape for _, p in module.named_parameters()]

    def op(x, *ps):
        out, hn = functional_call(module, names, ps, x, lengths=lengths)
        return (out, *hn) if mode == "LSTM" else (out, hn)

    def ref(x, *ps):
        out, h, c = np_rnn(mode, x, dict(zip(names, ps, strict=True)), num_layers, bidirectional, lengths=lengths)
        return (out, h, c) if mode == "LSTM" else (out, h)

    return OpCase(name, op, ref, [randn(T, B, I)] + [randn(*s, scale=0.7) for s in shapes], directional=directional)


def cell_case(name, cls, mode, B=2, I=3, H=2, **kw):
    module = cls(I, H, **kw)
    names = [n for n, _ in module.named_parameters()]
    shapes = [p.shape for _, p in module.named_parameters()]
    if mode == "LSTM":
        def op(x, h, c, *ps):
            return functional_call(module, names, ps, x, (h, c))
        inputs = [randn(B, I), randn(B, H), randn(B, H)]
    else:
        def op(x, h, *ps):
            return functional_call(module, names, ps, x, h)
        inputs = [randn(B, I), randn(B, H)]

    def ref(x, h, *rest):
        c, ps = (rest[0], rest[1:]) if mode == "LSTM" else (None, rest)
        h, c = np_step(mode, x, h, c, *ps)
        return (h, c) if mode == "LSTM" else h

    return OpCase(name, op, ref, inputs + [randn(*s, scale=0.7) for s in shapes])


CASES = [
    cell_case("rnn_cell_tanh", RNNCell, "RNN_TANH"),
    cell_case("rnn_cell_relu", RNNCell, "RNN_RELU", nonlinearity="relu"),
    cell_case("lstm_cell", LSTMCell, "LSTM"),
    cell_case("gru_cell", GRUCell, "GRU"),
    layer_case("rnn", RNN, "RNN_TANH"),
    layer_case("lstm", LSTM, "LSTM"),
    layer_case("gru", GRU, "GRU"),
    # the larger cases check gradients along one random direction per input (two evaluations, not 2 x size)
    layer_case("lstm_2layer_bidirectional", LSTM, "LSTM", T=3, B=2, I=2, H=2, num_layers=2, bidirectional=True,
               directional=True),
    layer_case("gru_bidirectional_lengths", GRU, "GRU", T=4, B=3, I=2, H=2, bidirectional=True, lengths=[4, 2, 1],
               directional=True),
    layer_case("lstm_lengths", LSTM, "LSTM", T=3, B=2, lengths=[1, 3]),
]

test_forward, test_backward, test_double_backward = make_op_tests(CASES)


# --------------------------------------------------------------------------- names, shapes, layout
def test_parameter_names_shapes_and_init_are_pytorchs():
    lstm = LSTM(3, 4, num_layers=2, bidirectional=True, generator=minidl.Generator(0))
    shapes = {n: p.shape for n, p in lstm.named_parameters()}
    assert list(shapes)[:5] == ["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0", "weight_ih_l0_reverse"]
    assert shapes["weight_ih_l0"] == (16, 3) and shapes["weight_hh_l0"] == (16, 4) and shapes["bias_hh_l0"] == (16,)
    assert shapes["weight_ih_l1_reverse"] == (16, 8)  # layer 1 reads both directions of layer 0
    assert len(shapes) == 16
    values = np.concatenate([p.detach().numpy().ravel() for p in lstm.parameters()])
    assert values.dtype == np.float32 and np.abs(values).max() <= 0.5 and np.abs(values).max() > 0.45  # U(-1/2, 1/2)
    assert GRU(3, 5).weight_hh_l0.shape == (15, 5)
    assert [n for n, _ in RNN(3, 5, bias=False).named_parameters()] == ["weight_ih_l0", "weight_hh_l0"]
    assert [n for n, _ in GRUCell(2, 3).named_parameters()] == ["weight_ih", "weight_hh", "bias_ih", "bias_hh"]


@pytest.mark.parametrize("batch_first", [False, True])
def test_bidirectional_multilayer_layout(batch_first):
    """output[..., :H] is the forward direction, output[..., H:] the reverse one; h_n is (layers * 2, B, H)
    ordered layer 0 forward, layer 0 reverse, layer 1 forward, ...; all as the NumPy loop says."""
    T, B, I, H = 5, 3, 2, 4
    gru = GRU(I, H, num_layers=2, bidirectional=True, batch_first=batch_first, dtype="float64")
    x = np.random.default_rng(0).standard_normal((T, B, I))
    out, h_n = gru(minidl.tensor(x.swapaxes(0, 1) if batch_first else x))
    assert out.shape == ((B, T, 2 * H) if batch_first else (T, B, 2 * H)) and h_n.shape == (4, B, H)
    params = {n: p.detach().numpy() for n, p in gru.named_parameters()}
    want_out, want_h, _ = np_rnn("GRU", x, params, 2, True)
    got = out.detach().numpy()
    np.testing.assert_allclose(got.swapaxes(0, 1) if batch_first else got, want_out, rtol=1e-10)
    np.testing.assert_allclose(h_n.detach().numpy(), want_h, rtol=1e-10)
    # the last layer's final states are its outputs at the two ends
    np.testing.assert_allclose(want_h[2], want_out[-1, :, :H])
    np.testing.assert_allclose(want_h[3], want_out[0, :, H:])


def test_initial_states_unbatched_input_and_errors():
    lstm = LSTM(2, 3, num_layers=2, dtype="float64")
    rng = np.random.default_rng(1)
    x, h0, c0 = rng.standard_normal((4, 2)), rng.standard_normal((2, 3)), rng.standard_normal((2, 3))
    out, (h, c) = lstm(minidl.tensor(x), (minidl.tensor(h0), minidl.tensor(c0)))
    params = {n: p.detach().numpy() for n, p in lstm.named_parameters()}
    want_out, want_h, want_c = np_rnn("LSTM", x[:, None], params, 2, h0=h0[:, None], c0=c0[:, None])
    assert out.shape == (4, 3) and h.shape == (2, 3)
    np.testing.assert_allclose(out.detach().numpy(), want_out[:, 0], rtol=1e-10)
    np.testing.assert_allclose(c.detach().numpy(), want_c[:, 0], rtol=1e-10)
    with pytest.raises(minidl.ShapeError, match="LSTM"):
        lstm(minidl.zeros(4, 2, 5))
    with pytest.raises(minidl.ShapeError, match="initial state"):
        lstm(minidl.zeros(4, 2, 2), (minidl.zeros(1, 2, 3), minidl.zeros(1, 2, 3)))
    with pytest.raises(ValueError, match="lengths"):
        lstm(minidl.zeros(4, 2, 2), lengths=[5, 1])


def test_lengths_give_each_sequences_own_final_state():
    """A padded batch with lengths gives, for each sequence, what running it alone gives."""
    lstm = LSTM(2, 3, bidirectional=True, batch_first=True)
    rng = np.random.default_rng(2)
    lengths = [5, 2, 4]
    x = rng.standard_normal((3, 5, 2)).astype(np.float32)
    x[1, 2:] = 99.0  # padding must not matter
    out, (h, c) = lstm(minidl.tensor(x), lengths=minidl.tensor(lengths))
    for b, n in enumerate(lengths):
        alone, (h1, c1) = lstm(minidl.tensor(x[b:b + 1, :n]))
        np.testing.assert_allclose(out.detach().numpy()[b, :n], alone.detach().numpy()[0], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(h.detach().numpy()[:, b], h1.detach().numpy()[:, 0], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(c.detach().numpy()[:, b], c1.detach().numpy()[:, 0], rtol=1e-5, atol=1e-6)
        assert np.all(out.detach().numpy()[b, n:] == 0)


def test_dropout_between_layers_only_in_training():
    minidl.manual_seed(0)
    rnn = RNN(3, 4, num_layers=2, dropout=0.5)
    x = minidl.randn(6, 2, 3)
    a, b = rnn(x)[0].detach().numpy(), rnn(x)[0].detach().numpy()
    assert not np.allclose(a, b)  # two different masks
    rnn.eval()
    np.testing.assert_array_equal(rnn(x)[0].detach().numpy(), rnn(x)[0].detach().numpy())
    one_layer = RNN(3, 4, dropout=0.0)
    np.testing.assert_array_equal(one_layer(x)[0].detach().numpy(), one_layer(x)[0].detach().numpy())


def _np_lstm_loss(x, params, h, c):
    """sum(out) + sum(c_T) of a one-layer LSTM over x (T, B, I) from (h, c), the whole batch per step."""
    w = [params[n] for n in ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0")]
    total = 0.0
    for xt in x:
        h, c = np_step("LSTM", xt, h, c, *w)
        total += h.sum()
    return total + c.sum()


def _directional(f, params, x, name, direction, eps=1e-6):
    """Central difference of f(x, params) along ``direction`` for params[name] (or for x when name is None)."""
    def at(sign):
        if name is None:
            return f(x + sign * eps * direction, params)
        return f(x, {**params, name: params[name] + sign * eps * direction})
    return (at(1) - at(-1)) / (2 * eps)


def test_bptt_through_1000_steps_and_truncated_bptt():
    """dL/dW_hh, dL/dW_ih, dL/dx_0 and dL/dx after 1000 steps against central differences of a NumPy unroll.
    Forget gates biased open (sigmoid(6) = 0.9975) and input gates nearly shut keep the first step's influence
    measurable (0.9975^1000 = 0.08)."""
    rng = np.random.default_rng(0)
    lstm = LSTM(2, 4, dtype="float64")
    params = {k: v.numpy().copy() for k, v in lstm.state_dict().items()}
    params["bias_ih_l0"][:4] -= 3.0
    params["bias_ih_l0"][4:8] += 6.0
    lstm.load_state_dict(params)
    x0 = rng.standard_normal((1000, 2, 2))
    x = minidl.tensor(x0, requires_grad=True)
    out, (h, c) = lstm(x)
    (out.sum() + c.sum()).backward()
    assert x.grad.dtype == lstm.weight_hh_l0.grad.dtype == np.float64

    zeros = np.zeros((2, 4))

    def loss(x, p):
        return _np_lstm_loss(x, p, zeros, zeros)

    first_step = np.zeros_like(x0)
    first_step[0] = rng.standard_normal((2, 2))
    directions = [("weight_hh_l0", rng.standard_normal((16, 4))), ("weight_ih_l0", rng.standard_normal((16, 2))),
                  (None, first_step), (None, rng.standard_normal(x0.shape))]  # None: along the input x
    for name, direction in directions:
        grad = x.grad.numpy() if name is None else getattr(lstm, name).grad.numpy()
        np.testing.assert_allclose((grad * direction).sum(), _directional(loss, params, x0, name, direction),
                                   rtol=1e-6, err_msg=str(name))
    assert np.abs(x.grad.numpy()[0]).max() > 1e-3  # the gradient reaches the first step

    # truncated BPTT: detached states stop the gradient at the chunk boundary; what is left is the gradient
    # of the second chunk alone, started from the (constant) state the first chunk ended in
    lstm.zero_grad()
    x1, x2 = minidl.tensor(x0[:5], requires_grad=True), minidl.tensor(x0[5:10])
    _, state = lstm(x1)
    out2, (_, c2) = lstm(x2, tuple(s.detach() for s in state))
    (out2.sum() + c2.sum()).backward()
    assert x1.grad is None
    h1, c1 = (s.detach().numpy()[0] for s in state)
    direction = rng.standard_normal((16, 2))
    np.testing.assert_allclose((lstm.weight_ih_l0.grad.numpy() * direction).sum(),
                               _directional(lambda x, p: _np_lstm_loss(x, p, h1, c1), params, x0[5:10],
                                            "weight_ih_l0", direction), rtol=1e-6)


# --------------------------------------------------------------------------- PyTorch weights, PyTorch outputs
@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU"])
def test_pytorch_weights_give_pytorch_outputs(kind):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    ref = getattr(torch.nn, kind)(3, 5, num_layers=2, bidirectional=True, batch_first=True).double()
    ours = getattr(nn, kind)(3, 5, num_layers=2, bidirectional=True, batch_first=True, dtype="float64")
    ours.load_state_dict({k: v.detach().numpy() for k, v in ref.state_dict().items()})
    x = torch.randn(4, 6, 3, dtype=torch.float64)
    lengths = [6, 3, 5, 1]
    want_out, want_state = ref(x)
    got_out, got_state = ours(minidl.tensor(x.numpy()))
    np.testing.assert_allclose(got_out.detach().numpy(), want_out.detach().numpy(), rtol=1e-10, atol=1e-12)
    for g, w in zip(got_state if kind == "LSTM" else [got_state], want_state if kind == "LSTM" else [want_state],
                    strict=True):
        np.testing.assert_allclose(g.detach().numpy(), w.detach().numpy(), rtol=1e-10, atol=1e-12)
    # variable lengths: PyTorch's packed sequences
    packed = torch.nn.utils.rnn.pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
    want_packed, want_state = ref(packed)
    want_out = torch.nn.utils.rnn.pad_packed_sequence(want_packed, batch_first=True, total_length=6)[0]
    got_out, got_state = ours(minidl.tensor(x.numpy()), lengths=lengths)
    np.testing.assert_allclose(got_out.detach().numpy(), want_out.detach().numpy(), rtol=1e-10, atol=1e-12)
    for g, w in zip(got_state if kind == "LSTM" else [got_state], want_state if kind == "LSTM" else [want_state],
                    strict=True):
        np.testing.assert_allclose(g.detach().numpy(), w.detach().numpy(), rtol=1e-10, atol=1e-12)
