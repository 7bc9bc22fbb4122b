"""The CuPy backend's launches match the CUDA C prototypes, without a GPU.

A stand-in ``cupy`` module (NumPy underneath) replaces CuPy; its ``RawModule`` reads the ``extern "C"``
prototypes of the ``.cu`` source and, instead of running a kernel, checks every launch: the number
of arguments, each argument's type against its parameter (a float32 array for ``float*``,
``numpy.int32`` for ``int``, ...), and the launch geometry. Every kernel case then runs through
``CupyBackend`` and its outputs must have the reference's shapes and dtypes (their values are not
computed: that needs a GPU, see test_gpu_device.py and benchmarks/gpu_smoke.py).
"""

import re
import sys
import types

import numpy as np
import pytest

import minidl.backends as registry
from minidl.backends.numpy_backend import NumpyBackend
from minidl.testing.kernel_cases import CASES, call_case, case_args

POINTERS = {"float": np.float32, "double": np.float64, "long long": np.int64}
SCALARS = {"int": np.int32, "long long": np.int64, "float": np.float32, "double": np.float64}


def prototypes(code: str) -> dict[str, list[str]]:
    """kernel name -> parameter types, from the ``__global__`` functions of an ``extern "C"`` block."""
    code = re.sub(r"\\\n", " ", code)  # join continued macro lines
    macros = dict(re.findall(r"^#define\s+(\w+)\s+(.*)$", code, flags=re.M))
    block = code[code.index('extern "C"'):]
    for name, body in macros.items():
        block = re.sub(rf"\b{name}\b", body, block)
    kernels = {}
    for name, params in re.findall(r"__global__\s+void\s+(\w+)\s*\(([^)]*)\)", block):
        kernels[name] = [re.sub(r"\s*\b\w+$", "", p.strip()).replace("const ", "").strip() for p in params.split(",")]
    return kernels


class CheckedKernel:
    def __init__(self, name: str, params: list[str]) -> None:
        self.name, self.params = name, params

    def __call__(self, grid, block, args, shared_mem=0):
        assert len(args) == len(self.params), f"{self.name}: {len(args)} arguments for {len(self.params)} parameters"
        for i, (arg, param) in enumerate(zip(args, self.params)):
            where = f"{self.name} argument {i} ({param})"
            if param.endswith("*"):
                assert isinstance(arg, np.ndarray), f"{where}: got {type(arg).__name__}, expected an array"
                assert arg.dtype == POINTERS[param[:-1].strip()], f"{where}: array of {arg.dtype}"
                assert arg.flags.c_contiguous, f"{where}: not C-contiguous"
            else:
                assert type(arg) is SCALARS[param], f"{where}: got {type(arg).__name__}"
        assert all(isinstance(g, int) and g > 0 for g in grid) and len(grid) <= 3, f"{self.name}: grid {grid}"
        threads = int(np.prod(block))
        assert 0 < threads <= 1024 and threads % 32 == 0, f"{self.name}: block {block}"
        assert 0 <= shared_mem <= 48 * 1024, f"{self.name}: {shared_mem} bytes of shared memory"


class CheckedModule:
    def __init__(self, code: str, options: tuple = ()) -> None:
        assert any(o.startswith("--include-path=") for o in options), "the kernels #include common.cuh"
        self.kernels = prototypes(code)

    def get_function(self, name: str) -> CheckedKernel:
        assert name in self.kernels, f"no kernel {name} (the source has {sorted(self.kernels)})"
        return CheckedKernel(name, self.kernels[name])


@pytest.fixture
def cupy_backend(monkeypatch):
    fake = types.ModuleType("cupy")
    fake.__dict__.update({k: getattr(np, k) for k in dir(np) if not k.startswith("__")})
    fake.is_available = lambda: True
    fake.asnumpy = np.asarray
    fake.RawModule = CheckedModule
    fake.cuda = types.SimpleNamespace(get_current_stream=lambda: types.SimpleNamespace(synchronize=lambda: None))
    monkeypatch.setitem(sys.modules, "cupy", fake)
    monkeypatch.setattr(registry, "_instances", {})
    saved = sys.modules.pop("minidl.backends.cupy_backend", None)
    try:
        yield registry.get_backend("cupy")
    finally:
        sys.modules.pop("minidl.backends.cupy_backend", None)
        if saved is not None:
            sys.modules["minidl.backends.cupy_backend"] = saved


def test_prototypes_are_parsed():
    from minidl.kernel_files import kernel_source

    assert prototypes(kernel_source("pool.cu"))["maxpool2d_forward_f32"][:4] == ["float*", "float*", "long long*",
                                                                                      "int"]
    assert len(prototypes(kernel_source("conv.cu"))["col2im_f64"]) == 2 + 14


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_launches_match_the_cuda_prototypes(cupy_backend, case, dtype):
    reference = NumpyBackend()
    with np.errstate(all="ignore"):  # the stand-in kernels compute nothing: what follows them reads garbage
        got = call_case(cupy_backend, case, case_args(cupy_backend, case, dtype))
    want = call_case(reference, case, case_args(reference, case, dtype))
    got = got if isinstance(got, tuple | list) else (got,)
    want = want if isinstance(want, tuple | list) else (want,)
    assert len(got) == len(want)
    for i, (g, w) in enumerate(zip(got, want)):
        if hasattr(w, "shape") and case.compare in (None, (0,)) and (case.compare is None or i == 0):
            assert g.shape == w.shape and g.dtype == w.dtype, f"{case.id} output {i}: {g.shape} {g.dtype}"
