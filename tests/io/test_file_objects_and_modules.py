"""minidl.save/load with file objects, and whole modules saved without pickle (minidl.serialization)."""

import io
import json
import zipfile

import numpy as np
import pytest

import minidl
import minidl.io
import minidl.nn as nn
from minidl.io import CheckpointError
from minidl.serialization import add_safe_globals, clear_safe_globals, get_safe_globals, safe_globals

INIT_CALLS = []


class Residual(nn.Module):
    """A user-defined module: plain attributes of every kind, a buffer, a shared submodule, a tied weight."""

    def __init__(self, channels):
        super().__init__()
        INIT_CALLS.append(channels)  # to see that loading never runs __init__
        self.channels, self.scale, self.name, self.kernel, self.extra = channels, 0.5, "res", (3, 3), None
        self.use_skip = True
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)
        self.bn = nn.BatchNorm2d(channels)
        self.again = self.bn  # the same module twice
        self.register_buffer("offset", minidl.full((1, channels, 1, 1), 0.25))

    def forward(self, x):
        y = self.again(self.conv(x)).relu() * self.scale + self.offset
        return x + y if self.use_skip else y


def make_model():
    minidl.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), Residual(4), nn.MaxPool2d(2), nn.Flatten(),
                          nn.Linear(4 * 3 * 3, 5))
    model.train()
    model(minidl.randn(8, 1, 8, 8))  # move the batch-norm running statistics away from their initial values
    return model.eval()


@pytest.fixture(autouse=True)
def empty_allowlist():
    clear_safe_globals()
    yield
    clear_safe_globals()


def save_to_bytes(obj):
    buffer = io.BytesIO()
    minidl.save(obj, buffer)
    buffer.seek(0)
    return buffer


def test_file_objects_round_trip(tmp_path):
    state = {"w": minidl.ones(2, 3), "arrays": [np.arange(3), {"t": (np.zeros((2, 2)), np.float32(1.5))}]}
    with open(tmp_path / "c.npz", "wb") as f:
        minidl.save(state, f)
    with open(tmp_path / "c.npz", "rb") as f:
        loaded = minidl.load(f, weights_only=True)
    assert loaded["arrays"][1]["t"][1] == np.float32(1.5) and type(loaded["arrays"][1]["t"]) is tuple
    np.testing.assert_array_equal(loaded["arrays"][0], np.arange(3))
    np.testing.assert_array_equal(minidl.load(save_to_bytes(state))["w"].array, np.ones((2, 3), np.float32))


def test_text_file_objects_are_refused(tmp_path):
    with open(tmp_path / "c.npz", "w") as f, pytest.raises(TypeError, match="binary mode"):
        minidl.save({"w": np.ones(2)}, f)


def test_a_whole_model_round_trips_exactly():
    model = make_model()
    x = minidl.randn(2, 1, 8, 8)
    calls = len(INIT_CALLS)
    with safe_globals([Residual]):
        loaded = minidl.load(save_to_bytes(model), weights_only=True)
    assert len(INIT_CALLS) == calls  # rebuilt from its state, never by running __init__
    assert type(loaded) is nn.Sequential and type(loaded[2]) is Residual and not loaded.training
    np.testing.assert_array_equal(loaded(x).array, model(x).array)
    res = loaded[2]
    assert (res.channels, res.scale, res.name, res.kernel, res.extra, res.use_skip) == (4, 0.5, "res", (3, 3), None,
                                                                                         True)
    assert res.again is res.bn and list(loaded.state_dict()) == list(model.state_dict())
    assert all(isinstance(p, nn.Parameter) for p in loaded.parameters())
    loaded.train()
    np.testing.assert_array_equal(loaded(x).array, model.train()(x).array)


def test_a_user_class_needs_the_allowlist():
    buffer = save_to_bytes({"model": make_model()})
    refused = r"test_file_objects_and_modules\.Residual'.*safe_globals\(\[Residual\]\)"
    with pytest.raises(CheckpointError, match=refused):
        minidl.load(buffer)
    add_safe_globals([Residual])
    assert get_safe_globals() == [Residual]
    buffer.seek(0)
    assert type(minidl.load(buffer)["model"][2]) is Residual


def test_the_scoped_allowlist_ends_with_the_block():
    buffer = save_to_bytes(Residual(2))
    with safe_globals([Residual]):
        minidl.load(buffer)
    buffer.seek(0)
    with pytest.raises(CheckpointError, match="neither part of minidl nor allowlisted"):
        minidl.load(buffer)


def test_tied_weights_stay_tied():
    emb, head = nn.Embedding(5, 3), nn.Linear(3, 5, bias=False)
    head.weight = emb.weight
    loaded = minidl.load(save_to_bytes(nn.ModuleList([emb, head])))
    assert loaded[1].weight is loaded[0].weight


def test_a_minidl_function_attribute_round_trips():
    minidl.manual_seed(1)
    layer = nn.TransformerEncoderLayer(8, 2, dim_feedforward=16, activation="gelu", batch_first=True).eval()
    loaded = minidl.load(save_to_bytes(layer))
    x = minidl.randn(2, 3, 8)
    assert loaded.activation is layer.activation
    np.testing.assert_array_equal(loaded(x).array, layer(x).array)


def test_lambdas_and_local_classes_cannot_be_saved():
    model = nn.Linear(2, 2)
    model.hook = lambda x: x
    with pytest.raises(TypeError, match=r"obj\.hook, the function '.*<lambda>'"):
        save_to_bytes(model)

    class Local(nn.Module):
        pass

    with pytest.raises(TypeError, match="defined inside a function"):
        save_to_bytes(Local())


def crafted(tree):
    buffer = save_to_bytes({"x": 1})
    with zipfile.ZipFile(buffer) as zf:
        header = json.loads(zf.read("header.json"))
    header["format_version"], header["tree"] = 2, tree
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        zf.writestr("header.json", json.dumps(header))
    out.seek(0)
    return out


@pytest.mark.parametrize("tree, message", [
    ({"type": "function", "module": "os", "qualname": "system"}, "function 'os.system', which is neither"),
    ({"type": "function", "module": "builtins", "qualname": "eval"}, "function 'builtins.eval'"),
    ({"type": "function", "module": "minidl.__main__", "qualname": "main"}, "'minidl.__main__.main'"),
    ({"type": "function", "module": "minidl.io.writing", "qualname": "save"}, "'minidl.io.writing.save'"),
    ({"type": "module", "id": 0, "module": "subprocess", "qualname": "Popen", "training": True, "attributes": [],
      "parameters": [], "buffers": [], "non_persistent": [], "modules": []}, "class 'subprocess.Popen'"),
    ({"type": "module", "id": 0, "module": "minidl.tensor", "qualname": "Tensor", "training": True,
      "attributes": [], "parameters": [], "buffers": [], "non_persistent": [], "modules": []}, "not a minidl Module"),
    ({"type": "module", "id": 0, "module": "minidl.nn.linear", "qualname": "Linear", "training": True,
      "attributes": [["__class__", {"type": "value", "value": "x"}]], "parameters": [], "buffers": [],
      "non_persistent": [], "modules": []}, "refused attribute name '__class__'"),
    ({"type": "module_ref", "id": 3}, "unknown module id"),
])
def test_crafted_references_are_refused_and_nothing_runs(tree, message):
    with pytest.raises(CheckpointError, match=message):
        minidl.load(crafted(tree))


def test_plain_checkpoints_stay_format_version_1():
    buffer = save_to_bytes({"w": minidl.ones(2)})
    assert minidl.io.read_header(buffer)["format_version"] == 1
    assert minidl.io.read_header(save_to_bytes(nn.Linear(1, 1)))["format_version"] == 2
