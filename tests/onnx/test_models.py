"""Whole models exported and run in onnxruntime; a user's forward with tensor ops; what is refused."""

import io
import subprocess
import sys

import numpy as np
import onnx
import pytest

import minidl
import minidl.nn as nn
import minidl.nn.functional as F
from minidl.onnx import UnsupportedOperatorError, export

rng = np.random.default_rng(1)


def images(n):
    return minidl.tensor(rng.random((n, 1, 28, 28), dtype=np.float32))


def tokens(n, vocab=20, T=7):
    return minidl.tensor(rng.integers(0, vocab, (n, T)))


def test_mnist_cnn_of_the_examples(check):
    from minidl.examples.mnist_cnn import build_model

    minidl.manual_seed(0)
    worst = check(build_model(), images)
    assert worst < 1e-5


class LSTMClassifier(nn.Module):
    def __init__(self, vocab=20, classes=3):
        super().__init__()
        self.embed = nn.Embedding(vocab, 8)
        self.lstm = nn.LSTM(8, 16, num_layers=2, batch_first=True, bidirectional=True)
        self.head = nn.Linear(32, classes)

    def forward(self, ids):
        out, (h, c) = self.lstm(self.embed(ids))
        return F.log_softmax(self.head(out[:, -1]), dim=-1)


def test_lstm_classifier(check):
    minidl.manual_seed(0)
    check(LSTMClassifier(), tokens)


class TinyGPT(nn.Module):
    """Token and learned position embeddings, a causal pre-norm TransformerEncoder, a tied-free head."""

    def __init__(self, vocab=20, d=16, T=7):
        super().__init__()
        self.tok = nn.Embedding(vocab, d)
        self.pos = nn.LearnedPositionalEmbedding(T, d)
        layer = nn.TransformerEncoderLayer(d, 4, dim_feedforward=32, batch_first=True, norm_first=True,
                                           activation="gelu")
        self.blocks = nn.TransformerEncoder(layer, num_layers=2)
        self.ln = nn.LayerNorm(d)
        self.head = nn.Linear(d, vocab, bias=False)
        self.register_buffer("mask", nn.Transformer.generate_square_subsequent_mask(T), persistent=False)

    def forward(self, ids):
        x = self.tok(ids)
        x = x + self.pos(x)
        x = self.blocks(x, mask=self.mask, is_causal=True)
        return self.head(self.ln(x))


def test_gpt_like_transformer(check):
    minidl.manual_seed(0)
    check(TinyGPT(), tokens)


class OpsBetweenLayers(nn.Module):
    """Residuals, views, permutes, cat, slicing, reductions and functional layers in a user's forward."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.fc = nn.Linear(4 * 4 * 4 + 4, 5)
        self.w = nn.Parameter(minidl.randn(5, 5))

    def forward(self, x):
        y = F.relu(self.conv(x)) + x[:, :1] * 0.5
        y = F.max_pool2d(y, 2)
        pooled = y.mean((2, 3))
        z = minidl.cat([y.permute(0, 2, 3, 1).reshape(y.shape[0], -1), pooled], dim=1)
        z = self.fc(z) @ self.w.T
        z = z - z.amax(-1, keepdim=True) + minidl.sigmoid(z).pow(2) / (1 + z.abs()) - F.gelu(z).abs().sqrt().exp().log()
        parts = z.split(2, dim=1)
        return F.softmax(parts[0], -1), parts[2][..., None].tanh().squeeze(-1), z.view(-1, 5).clamp(-1, 1)


def test_user_forward_with_tensor_ops(check):
    minidl.manual_seed(0)
    check(OpsBetweenLayers(), lambda n: minidl.tensor(rng.random((n, 3, 8, 8), dtype=np.float32)),
          out_batch_axes=[0, 0, 0])


def test_file_path_and_model_proto(tmp_path):
    minidl.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 3), nn.Tanh())
    path = tmp_path / "model.onnx"
    proto = export(model, (minidl.ones(2, 4),), str(path), input_names=["x"], output_names=["y"],
                   dynamic_axes={"x": [0], "y": [0]})
    loaded = onnx.load(str(path))
    onnx.checker.check_model(loaded)
    assert loaded == proto
    assert [i.name for i in loaded.graph.input] == ["x"] and [o.name for o in loaded.graph.output] == ["y"]
    assert loaded.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "x_dynamic_axes_1"
    assert {i.name for i in loaded.graph.initializer} == {"0.weight", "0.bias"}  # state_dict names


class Sorted(nn.Module):
    def forward(self, x):
        return x.sort(-1)[0] * 2


class Custom(minidl.Function):
    def forward(self, x):
        return x * 2

    def backward(self, gy):
        return gy * 2


class UsesCustom(nn.Module):
    def forward(self, x):
        return Custom()(x)


@pytest.mark.parametrize("inner, op", [(Sorted, None), (UsesCustom, "Custom")])
def test_unsupported_op_is_named_with_its_module(inner, op):
    model = nn.Sequential(nn.Linear(4, 4), inner())
    with pytest.raises(UnsupportedOperatorError) as info:
        export(model, minidl.ones(2, 4), io.BytesIO())
    message = str(info.value)
    assert "no ONNX converter" in message and f"'1' ({inner.__name__})" in message
    if op:
        assert f"the op {op} " in message
    assert "forward" not in model[1].__dict__  # wrappers removed after an error too


def test_unsupported_layer_setting_is_named():
    with pytest.raises(UnsupportedOperatorError, match=r"MaxPool2d with return_indices=True.*'pool' \(MaxPool2d\)"):
        class M(nn.Module):
            def __init__(self):
                super().__init__()
                self.pool = nn.MaxPool2d(2, return_indices=True)

            def forward(self, x):
                return self.pool(x)[0]

        export(M(), minidl.ones(1, 1, 4, 4), io.BytesIO())


def test_output_not_computed_from_the_inputs_is_refused():
    class Const(nn.Module):
        def forward(self, x):
            return minidl.tensor(x.detach().numpy() * 2)

    with pytest.raises(ValueError, match="does not depend on its inputs"):
        export(Const(), minidl.ones(2, 3), io.BytesIO())


def test_import_minidl_does_not_import_onnx():
    code = "import sys, minidl, minidl.onnx; assert 'onnx' not in sys.modules; print(minidl.onnx.export.__name__)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "export"
