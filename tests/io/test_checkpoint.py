"""minidl.save / minidl.load: exact round trips, and every kind of bad file refused with CheckpointError."""

import hashlib
import json
import os
import zipfile

import numpy as np
import pytest

import minidl
import minidl.io
import minidl.nn as nn
from minidl.io import CheckpointError


def sample_tree():
    rng = np.random.default_rng(0)
    g = minidl.Generator(123)
    g.normal((3,))
    return {
        "f32": minidl.tensor(rng.standard_normal((2, 3)).astype(np.float32)),
        "f64_grad": minidl.tensor(rng.standard_normal(4), requires_grad=True),
        "param": nn.Parameter(np.ones((2, 2), dtype=np.float32)),
        "ints": minidl.tensor(np.arange(5, dtype=np.int64)),
        "mask": np.array([True, False, True]),
        "half": np.linspace(0, 1, 4).astype(np.float16),
        "transposed": rng.standard_normal((3, 4)).T,  # not contiguous
        "strided": np.arange(20.0)[::3],
        "empty": np.zeros((0, 3), dtype=np.float32),
        "zero_d": np.array(2.5),
        "np_scalar": np.float32(1.25),
        "np_int": np.int64(-7),
        7: "int key",
        "nested": {"list": [1, 2.5, None, True, "s"], "tuple": (1, (2, 3)), "empty": {}, 0: [np.ones(2)]},
        "floats": [float("inf"), float("-inf"), -0.0, 1e-310],
        "rng": g.get_state(),  # 128-bit integers
        "unicode": "épsilon ✓",
    }


def assert_same(a, b, where="obj"):
    assert type(a) is type(b), f"{where}: {type(a)} != {type(b)}"
    if isinstance(a, minidl.Tensor):
        assert a.dtype == b.dtype and a.requires_grad == b.requires_grad, where
        np.testing.assert_array_equal(a.array, b.array, err_msg=where)
    elif isinstance(a, np.ndarray | np.generic):
        assert a.dtype == b.dtype and np.shape(a) == np.shape(b), where
        np.testing.assert_array_equal(a, b, err_msg=where)
    elif isinstance(a, dict):
        assert list(a) == list(b), where
        for k in a:
            assert_same(a[k], b[k], f"{where}[{k!r}]")
    elif isinstance(a, list | tuple):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same(x, y, f"{where}[{i}]")
    elif isinstance(a, float):
        assert a == b or (np.isnan(a) and np.isnan(b)), where
        assert np.signbit(a) == np.signbit(b), where
    else:
        assert a == b, where


def test_round_trip_is_exact(tmp_path):
    tree = sample_tree()
    minidl.save(tree, tmp_path / "c.npz")
    assert_same(tree, minidl.load(tmp_path / "c.npz"))
    assert [p.name for p in tmp_path.iterdir()] == ["c.npz"]  # no temporary left behind


def test_nan_round_trips(tmp_path):
    minidl.save({"x": float("nan")}, tmp_path / "n.npz")
    assert np.isnan(minidl.load(tmp_path / "n.npz")["x"])


def test_header_describes_every_array(tmp_path):
    minidl.save({"w": minidl.tensor(np.arange(6.0).reshape(2, 3)), "epoch": 4}, str(tmp_path / "h.npz"))
    header = minidl.io.read_header(tmp_path / "h.npz")
    assert header["format"] == "minidl-checkpoint" and header["format_version"] == 1
    assert header["minidl_version"] == minidl.__version__
    (name, meta), = header["arrays"].items()
    assert meta["shape"] == [2, 3] and meta["dtype"] == "<f8"
    assert meta["sha256"] == hashlib.sha256(np.arange(6.0).tobytes()).hexdigest()
    with np.load(tmp_path / "h.npz", allow_pickle=False) as npz:  # any numpy can read the arrays
        np.testing.assert_array_equal(npz[name], np.arange(6.0).reshape(2, 3))


def test_training_state_round_trip(tmp_path):
    model = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2))
    opt = minidl.optim.Adam(model.parameters(), lr=0.01)
    sched = minidl.optim.lr_scheduler.StepLR(opt, step_size=2)
    for _ in range(3):
        opt.zero_grad()
        (model(minidl.ones(5, 3)) ** 2).mean().backward()
        opt.step()
        sched.step()
    minidl.save({"model": model.state_dict(), "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
                 "epoch": 3}, tmp_path / "t.npz")
    state = minidl.load(tmp_path / "t.npz")
    model2 = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2))
    opt2 = minidl.optim.Adam(model2.parameters(), lr=0.5)
    sched2 = minidl.optim.lr_scheduler.StepLR(opt2, step_size=2)
    model2.load_state_dict(state["model"])
    opt2.load_state_dict(state["optimizer"])
    sched2.load_state_dict(state["scheduler"])
    assert opt2.param_groups[0]["lr"] == opt.param_groups[0]["lr"] and sched2.last_epoch == 3
    for p, q in zip(model.parameters(), model2.parameters()):
        np.testing.assert_array_equal(p.array, q.array)
        for k in opt.state[p]:
            np.testing.assert_array_equal(opt.state[p][k], opt2.state[q][k])


def test_unsupported_values_fail_before_touching_the_file(tmp_path):
    minidl.save({"v": 1}, tmp_path / "c.npz")
    with pytest.raises(TypeError, match=r"obj\['bad'\]\[1\], a set"):
        minidl.save({"bad": [1, {2}]}, tmp_path / "c.npz")
    with pytest.raises(TypeError, match="Python objects"):
        minidl.save(np.array([object()]), tmp_path / "c.npz")
    with pytest.raises(TypeError, match="keys must be str or int"):
        minidl.save({(1, 2): 3}, tmp_path / "c.npz")
    assert minidl.load(tmp_path / "c.npz") == {"v": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["c.npz"]


def test_interrupted_write_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "c.npz"
    minidl.save({"w": np.ones(3), "epoch": 1}, path)
    real = minidl.io.writing._write_array
    calls = []

    def crash_on_second_array(zf, name, array):
        calls.append(name)
        if len(calls) == 2:
            raise KeyboardInterrupt("power cut")  # not even an Exception: BaseException
        real(zf, name, array)

    monkeypatch.setattr(minidl.io.writing, "_write_array", crash_on_second_array)
    with pytest.raises(KeyboardInterrupt):
        minidl.save({"w": np.zeros(3), "b": np.zeros(2), "epoch": 2}, path)
    assert len(calls) == 2
    state = minidl.load(path)
    assert state["epoch"] == 1 and np.array_equal(state["w"], np.ones(3))
    assert [p.name for p in tmp_path.iterdir()] == ["c.npz"]


# ----------------------------------------------------------------------------- bad files
@pytest.fixture
def good_file(tmp_path):
    path = tmp_path / "good.npz"
    minidl.save({"w": minidl.tensor(np.arange(100.0)), "epoch": 1}, path)
    return path


@pytest.mark.parametrize("keep", [0, 10, 200, 0.5, -22, -1])
def test_truncated_file_raises(good_file, keep):
    data = good_file.read_bytes()
    n = int(len(data) * keep) if isinstance(keep, float) else keep if keep >= 0 else len(data) + keep
    good_file.write_bytes(data[:n])
    with pytest.raises(CheckpointError):
        minidl.load(good_file)


def test_corrupted_bytes_raise(good_file):
    data = bytearray(good_file.read_bytes())
    start = data.index(np.arange(100.0).tobytes()[8:16])  # inside the array's data
    data[start + 3] ^= 0xFF
    good_file.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="corrupted"):
        minidl.load(good_file)


def rewrite(path, header=None, members=None):
    """Rebuild a checkpoint's zip with a replaced header or members (valid CRCs: only our checks can object)."""
    with zipfile.ZipFile(path) as zf:
        contents = {name: zf.read(name) for name in zf.namelist()}
    if header is not None:
        contents["header.json"] = json.dumps(header).encode()
    contents.update(members or {})
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in contents.items():
            if data is not None:
                zf.writestr(name, data)


def npy_bytes(array, tmp_path):
    np.save(tmp_path / "member.npy", array, allow_pickle=True)
    return (tmp_path / "member.npy").read_bytes()


def test_tampered_array_fails_its_sha256(good_file, tmp_path):
    rewrite(good_file, members={"a0.npy": npy_bytes(np.arange(100.0) + 1, tmp_path)})
    with pytest.raises(CheckpointError, match="SHA-256"):
        minidl.load(good_file)


def test_shape_or_dtype_disagreeing_with_header_raises(good_file, tmp_path):
    rewrite(good_file, members={"a0.npy": npy_bytes(np.arange(100.0, dtype=np.float32), tmp_path)})
    with pytest.raises(CheckpointError, match="header says"):
        minidl.load(good_file)


def test_missing_or_extra_members_raise(good_file, tmp_path):
    rewrite(good_file, members={"extra.npy": npy_bytes(np.ones(2), tmp_path)})
    with pytest.raises(CheckpointError, match="do not match"):
        minidl.load(good_file)
    rewrite(good_file, members={"extra.npy": None, "a0.npy": None})
    with pytest.raises(CheckpointError, match="do not match"):
        minidl.load(good_file)


@pytest.mark.parametrize("change, message", [
    ({"format_version": 99}, "newer minidl"),
    ({"format_version": "1"}, "invalid format version"),
    ({"format": "something-else"}, "does not name the format"),
    ({"tree": {"type": "tensor", "array": "a7"}}, "malformed"),
    ({"arrays": {"a0": {"shape": [100]}}}, "malformed"),
])
def test_wrong_header_raises(good_file, change, message):
    header = minidl.io.read_header(good_file)
    rewrite(good_file, header={**header, **change})
    with pytest.raises(CheckpointError, match=message):
        minidl.load(good_file)


def test_plain_npz_and_npy_and_garbage_are_refused(tmp_path):
    np.savez(tmp_path / "plain.npz", a=np.ones(2))
    np.save(tmp_path / "one.npy", np.ones(2))
    (tmp_path / "text.npz").write_text("hello, I am not a checkpoint")
    cases = [("plain.npz", "no header.json"), ("one.npy", "single .npy"), ("text.npz", "unknown file type")]
    for name, message in cases:
        with pytest.raises(CheckpointError, match=message):
            minidl.load(tmp_path / name)
    with pytest.raises(FileNotFoundError):
        minidl.load(tmp_path / "missing.npz")


class Payload:
    """Unpickling this creates a folder: the marker that code ran."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


def test_pickled_object_array_is_refused_without_running_it(good_file, tmp_path):
    marker = tmp_path / "pwned"
    evil = npy_bytes(np.array([Payload(marker)], dtype=object), tmp_path)
    # Sanity check that the payload is live: unpickling it (never done by minidl) does create the marker.
    (tmp_path / "probe.npy").write_bytes(evil)
    np.load(tmp_path / "probe.npy", allow_pickle=True)
    assert marker.exists()
    marker.rmdir()

    header = minidl.io.read_header(good_file)  # the header lies: it says a0 is float64
    rewrite(good_file, header=header, members={"a0.npy": evil})
    with pytest.raises(CheckpointError, match="pickled Python objects"):
        minidl.load(good_file)
    header["arrays"]["a0"]["dtype"] = "|O"  # an honest header is refused even earlier
    rewrite(good_file, header=header)
    with pytest.raises(CheckpointError, match="holds Python objects"):
        minidl.load(good_file)
    assert not marker.exists()


def test_a_pickle_file_is_refused_without_running_it(tmp_path):
    import pickle  # only to craft the hostile file; minidl never imports pickle

    marker = tmp_path / "pwned"
    (tmp_path / "evil.npz").write_bytes(pickle.dumps({"model": Payload(marker)}))
    with pytest.raises(CheckpointError, match="pickle"):
        minidl.load(tmp_path / "evil.npz")
    assert not marker.exists()


def test_failed_load_leaves_the_model_untouched(good_file):
    model = nn.Linear(2, 2)
    before = [p.array.copy() for p in model.parameters()]
    good_file.write_bytes(good_file.read_bytes()[:-30])
    with pytest.raises(CheckpointError):
        model.load_state_dict(minidl.load(good_file))
    for p, b in zip(model.parameters(), before):
        np.testing.assert_array_equal(p.array, b)
