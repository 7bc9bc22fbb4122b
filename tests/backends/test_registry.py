"""The backend registry: one instance per name, even under threads; ``use_backend`` as a call and as a block."""

import contextvars
import threading
import time

import pytest

import minidl
import minidl.backends as registry
from minidl.backends.numpy_backend import NumpyBackend


class SlowNumpyBackend(NumpyBackend):
    """A backend whose construction takes long enough for a second thread to arrive meanwhile
    (numba's and cupy's take much longer than numpy's: they import and compile)."""

    def __init__(self) -> None:
        time.sleep(0.05)
        super().__init__()


def test_two_threads_asking_at_once_get_one_instance(monkeypatch):
    import minidl.backends.numpy_backend as module

    monkeypatch.setattr(module, "NumpyBackend", SlowNumpyBackend)
    for _ in range(5):
        monkeypatch.setattr(registry, "_instances", {})
        barrier = threading.Barrier(2)
        got = [None, None]

        def ask(i: int, barrier: threading.Barrier = barrier, got: list = got) -> None:
            barrier.wait()
            got[i] = registry.get_backend("numpy")

        threads = [threading.Thread(target=ask, args=(i,)) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert isinstance(got[0], SlowNumpyBackend)
        assert got[0] is got[1]
        assert registry._instances == {"numpy": got[0]}


def test_a_failed_creation_is_not_cached_and_raises_again(monkeypatch):
    monkeypatch.setattr(registry, "_instances", {})
    for _ in range(2):
        with pytest.raises(ValueError, match="unknown backend 'torch'"):
            registry.get_backend("torch")
    assert registry._instances == {}


def _in_fresh_context(fn):
    """Run fn in a copy of an empty context, so that a plain use_backend call does not leak into other tests."""
    return contextvars.Context().run(fn)


def test_plain_call_changes_the_default_and_with_restores_it(monkeypatch):
    class Other(NumpyBackend):
        name = "other"

    other = Other()
    monkeypatch.setitem(registry._instances, "other", other)

    def body():
        minidl.use_backend("other")  # a plain call, as torch.set_default_device
        assert minidl.zeros(1).backend is other
        with minidl.use_backend("numpy") as be:
            assert be.name == "numpy" and minidl.zeros(1).backend is be
        assert minidl.zeros(1).backend is other  # the block restored the plain call's default
        return registry.default_backend()

    assert _in_fresh_context(body) is other
    assert minidl.zeros(1).backend.name == "numpy"  # the outer context never saw it


def test_a_scope_object_can_be_entered_again():
    def body():
        scope = minidl.use_backend("numpy")
        with scope:
            pass
        with scope as be:
            assert be.name == "numpy" and registry._default.get() == "numpy"

    _in_fresh_context(body)


@pytest.mark.parametrize("name, error", [("torch", ValueError), ("cupy", minidl.BackendUnavailableError)])
def test_plain_call_with_a_bad_name_raises_at_once(name, error):
    if name == "cupy" and "cupy" in minidl.backends.available():
        pytest.skip("cupy works on this machine")

    def body():
        with pytest.raises(error, match=name):
            minidl.use_backend(name)  # before the fix: a generator that was never run, so nothing
        return registry._default.get()

    assert _in_fresh_context(body) == "numpy"
