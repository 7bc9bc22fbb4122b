"""Every CUDA C source in kernels/ compiles: with nvcc to PTX for sm_80 and sm_90 (as CI's
.ci/nvcc_check.sh does), and with NVRTC the way CuPy compiles it at run time, when libnvrtc is found."""

import ctypes
import ctypes.util
import glob
import os
import re
import shutil
import subprocess
import sys

import pytest

from minidl.kernel_files import kernel_dir

SOURCES = sorted(kernel_dir().glob("*.cu"))
NVCC = shutil.which("nvcc")


def test_there_are_sources():
    assert SOURCES, "kernels/*.cu: no CUDA C sources found"


@pytest.mark.skipif(NVCC is None, reason="nvcc is not installed (CI has it)")
@pytest.mark.parametrize("arch", ["sm_80", "sm_90"])
@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.name)
def test_nvcc_compiles_to_ptx(source, arch, tmp_path):
    out = tmp_path / f"{source.stem}.ptx"
    run = subprocess.run([NVCC, "--ptx", f"-arch={arch}", "-std=c++17", "-o", str(out), str(source)],
                         capture_output=True, text=True)
    assert run.returncode == 0, f"nvcc failed on {source.name} ({arch}):\n{run.stderr}"
    ptx = out.read_text()
    # every kernel is exported for float32 and float64 under an unmangled (extern "C") name
    exported = set(re.findall(r"\.entry\s+(\w+)\(", ptx))
    assert exported, f"{source.name}: no kernel entry points"
    for name in exported:
        assert name.endswith(("_f32", "_f64")), f"{source.name}: entry {name} should end in _f32/_f64"
        twin = name[:-3] + ("f64" if name.endswith("f32") else "f32")
        assert twin in exported, f"{source.name}: {name} has no {twin} twin"


def _find_nvrtc() -> str | None:
    """libnvrtc from the system, or from the pip wheels CuPy uses (nvidia-cuda-nvrtc-cu12)."""
    found = ctypes.util.find_library("nvrtc")
    if found:
        return found
    for site in sys.path:
        hits = sorted(glob.glob(os.path.join(site, "nvidia", "cuda_nvrtc", "lib", "libnvrtc.so*")))
        hits += sorted(glob.glob(os.path.join(site, "nvidia", "cu1*", "lib", "libnvrtc.so*")))
        if hits:
            return hits[0]
    return None


NVRTC = _find_nvrtc()


@pytest.mark.skipif(NVRTC is None, reason="libnvrtc not found (it comes with CuPy's CUDA wheels)")
@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.name)
def test_nvrtc_compiles_like_cupy(source):
    """NVRTC sees no system headers: this catches a source that only compiles under nvcc."""
    lib = ctypes.CDLL(NVRTC)
    prog = ctypes.c_void_p()
    code = source.read_text().encode()
    assert lib.nvrtcCreateProgram(ctypes.byref(prog), code, source.name.encode(), 0, None, None) == 0
    options = [b"-std=c++17", f"--include-path={kernel_dir()}".encode(), b"--gpu-architecture=compute_80"]
    argv = (ctypes.c_char_p * len(options))(*options)
    status = lib.nvrtcCompileProgram(prog, len(options), argv)
    size = ctypes.c_size_t()
    lib.nvrtcGetProgramLogSize(prog, ctypes.byref(size))
    log = ctypes.create_string_buffer(size.value)
    lib.nvrtcGetProgramLog(prog, log)
    lib.nvrtcDestroyProgram(ctypes.byref(prog))
    assert status == 0, f"NVRTC failed on {source.name}:\n{log.value.decode()}"
