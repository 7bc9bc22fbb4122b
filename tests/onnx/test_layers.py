"""Each supported layer, exported alone, gives minidl's own output in onnxruntime (dynamic batch)."""

import numpy as np
import pytest

import minidl
import minidl.nn as nn

rng = np.random.default_rng(0)


def randn(*shape):
    return lambda n: minidl.tensor(rng.standard_normal((n, *shape)).astype(np.float32))


@pytest.mark.parametrize("layer, make", [
    (lambda: nn.Linear(6, 4), randn(6)),
    (lambda: nn.Linear(6, 4, bias=False), randn(5, 6)),
    (lambda: nn.Conv1d(4, 6, 3, stride=2, padding=2, dilation=2, groups=2), randn(4, 11)),
    (lambda: nn.Conv1d(3, 4, 4, padding="same"), randn(3, 9)),
    (lambda: nn.Conv2d(4, 6, 3, stride=(2, 1), padding=1, dilation=2, groups=2), randn(4, 9, 8)),
    (lambda: nn.Conv2d(3, 4, (2, 3), padding="same", bias=False), randn(3, 7, 6)),
    (lambda: nn.Conv2d(3, 4, 3, padding="valid"), randn(3, 7, 6)),
    (lambda: nn.MaxPool2d(3, stride=2, padding=1), randn(3, 9, 8)),
    (lambda: nn.MaxPool1d(2), randn(3, 9)),
    (lambda: nn.AvgPool2d(3, stride=2, padding=1), randn(3, 9, 8)),
    (lambda: nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False), randn(3, 9, 8)),
    (lambda: nn.AvgPool2d(2, divisor_override=3), randn(2, 6, 6)),
    (lambda: nn.AdaptiveAvgPool2d((1, 1)), randn(3, 7, 7)),
    (lambda: nn.AdaptiveAvgPool2d(3), randn(3, 9, 6)),
    (lambda: nn.AdaptiveAvgPool2d((3, 2)), randn(3, 7, 5)),
    (lambda: nn.LayerNorm(8), randn(5, 8)),
    (lambda: nn.LayerNorm((4, 8), elementwise_affine=False), randn(4, 8)),
    (lambda: nn.ReLU(), randn(7)),
    (lambda: nn.GELU(), randn(7)),
    (lambda: nn.GELU(approximate="tanh"), randn(7)),
    (lambda: nn.Tanh(), randn(7)),
    (lambda: nn.Sigmoid(), randn(7)),
    (lambda: nn.SiLU(), randn(7)),
    (lambda: nn.LeakyReLU(0.2), randn(7)),
    (lambda: nn.ELU(0.5), randn(7)),
    (lambda: nn.Softplus(beta=2.0), randn(7)),
    (lambda: nn.Softmax(dim=1), randn(4, 3)),
    (lambda: nn.LogSoftmax(dim=-1), randn(4, 3)),
    (lambda: nn.Dropout(0.5), randn(7)),
    (lambda: nn.Dropout2d(0.5), randn(2, 3, 3)),
    (lambda: nn.Flatten(), randn(2, 3, 4)),
    (lambda: nn.Flatten(1, 2), randn(2, 3, 4)),
    (lambda: nn.Unflatten(1, (3, 4)), randn(12)),
], ids=lambda v: None)
def test_layer(layer, make, check):
    minidl.manual_seed(0)
    check(layer(), make)


@pytest.mark.parametrize("cls, shape", [(nn.BatchNorm1d, (5,)), (nn.BatchNorm1d, (5, 7)), (nn.BatchNorm2d, (5, 4, 3))])
def test_batch_norm_uses_running_statistics(cls, shape, check):
    bn = cls(5)
    bn.running_mean.array[...] = rng.standard_normal(5)
    bn.running_var.array[...] = rng.uniform(0.5, 2.0, 5)
    bn.weight.array[...] = rng.standard_normal(5)
    bn.bias.array[...] = rng.standard_normal(5)
    check(bn, randn(*shape))


def test_export_traces_in_eval_mode_and_restores_the_mode():
    import io

    from minidl.onnx import export
    model = nn.Sequential(nn.Linear(3, 3), nn.Dropout(0.9))
    model.train()
    model[0].weight.requires_grad_(False)
    proto = export(model, minidl.ones(2, 3), io.BytesIO())
    assert [n.op_type for n in proto.graph.node] == ["Gemm", "Identity"]  # dropout is the identity
    assert model.training and model[1].training and not model[0].weight.requires_grad
    assert "forward" not in model[0].__dict__  # the trace's wrappers are gone


def test_embedding(check):
    emb = nn.Embedding(10, 4, padding_idx=0)
    check(emb, lambda n: minidl.tensor(rng.integers(0, 10, (n, 5))))


@pytest.mark.parametrize("cls", [nn.LSTM, nn.GRU, nn.RNN])
@pytest.mark.parametrize("layers, bidirectional, batch_first", [(1, False, False), (2, True, True), (2, False, True)])
def test_recurrent(cls, layers, bidirectional, batch_first, check):
    minidl.manual_seed(0)
    rnn = cls(3, 5, num_layers=layers, bidirectional=bidirectional, batch_first=batch_first)
    b = 0 if batch_first else 1
    make = randn(4, 3) if batch_first else (lambda n: minidl.tensor(rng.standard_normal((4, n, 3)).astype(np.float32)))
    states = 2 if cls is nn.LSTM else 1
    check(rnn, make, batch_axes=(b,), out_batch_axes=[b] + [1] * states, rtol=1e-4)


def test_initial_states_are_inputs(check):
    minidl.manual_seed(0)

    class WithState(nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm, self.gru = nn.LSTM(3, 4, num_layers=2), nn.GRU(3, 4, bidirectional=True)

        def forward(self, x, h0, c0, g0):
            out, (h, c) = self.lstm(x, (h0, c0))
            return out, h, c, self.gru(x, g0)[1]

    def make(n):
        def r(*s):
            return minidl.tensor(rng.standard_normal(s).astype(np.float32))
        return r(6, n, 3), r(2, n, 4), r(2, n, 4), r(2, n, 4)

    check(WithState(), make, batch_axes=(1, 1, 1, 1), out_batch_axes=[1, 1, 1, 1])


@pytest.mark.parametrize("cls", [nn.LSTM, nn.GRU])
def test_unbatched_sequence(cls, check):
    minidl.manual_seed(0)
    check(cls(3, 4, num_layers=2), lambda n: minidl.tensor(rng.standard_normal((n + 3, 3)).astype(np.float32)),
          batch_axes=(0,), out_batch_axes=[0, None] + ([None] if cls is nn.LSTM else []))


@pytest.mark.parametrize("batch_first", [True, False])
@pytest.mark.parametrize("mask", [None, "bool", "float", "causal"])
def test_multihead_attention(batch_first, mask, check):
    minidl.manual_seed(0)
    mha = nn.MultiheadAttention(8, 2, batch_first=batch_first)
    for p in (mha.in_proj_bias, mha.out_proj.bias):
        p.array[...] = rng.standard_normal(p.shape)
    T = 5
    attn_mask = {None: None, "bool": minidl.tensor(np.triu(np.ones((T, T), bool), 1)),
                 "float": minidl.tensor(rng.standard_normal((T, T)).astype(np.float32)), "causal": None}[mask]

    class Self(nn.Module):
        def __init__(self):
            super().__init__()
            self.mha = mha

        def forward(self, x):
            return self.mha(x, x, x, attn_mask=attn_mask, need_weights=True, is_causal=mask == "causal")

    b = 0 if batch_first else 1
    make = randn(T, 8) if batch_first else (lambda n: minidl.tensor(rng.standard_normal((T, n, 8)).astype(np.float32)))
    check(Self(), make, batch_axes=(b,), out_batch_axes=[b, 0])


def test_cross_attention_with_key_padding_mask(check):
    minidl.manual_seed(0)
    mha = nn.MultiheadAttention(8, 4, batch_first=True, kdim=6, vdim=5)

    def make(n):
        pad = np.zeros((n, 7), bool)
        pad[:, -2:] = True
        r = lambda *s: minidl.tensor(rng.standard_normal(s).astype(np.float32))  # noqa: E731
        return r(n, 3, 8), r(n, 7, 6), r(n, 7, 5), minidl.tensor(pad)

    check(mha, make, batch_axes=(0, 0, 0, 0), out_batch_axes=[0, 0])


@pytest.mark.parametrize("norm_first, activation", [(False, "relu"), (True, "gelu")])
def test_transformer_encoder_layer(norm_first, activation, check):
    minidl.manual_seed(0)
    layer = nn.TransformerEncoderLayer(8, 2, dim_feedforward=16, batch_first=True, norm_first=norm_first,
                                       activation=activation)
    check(layer, randn(5, 8))


@pytest.mark.parametrize("opset", [14, 18])
def test_other_opsets(opset, check):
    minidl.manual_seed(0)
    model = nn.Sequential(nn.LayerNorm(6), nn.Linear(6, 6), nn.GELU())

    class Mean(nn.Module):
        def forward(self, x):
            return model(x).mean(-1, keepdim=True) + x.amax(1, keepdim=True)

    check(Mean(), randn(6), opset=opset)
