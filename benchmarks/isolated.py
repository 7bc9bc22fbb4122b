"""Time training steps of one framework in a fresh process of its own: the unit of ``compare_torch.py``.

Why a process per framework: PyTorch's OpenMP threads, OpenBLAS's and Numba's share the cores when they
live in one process, and each slows the others (a PyTorch W3 step: 53.5 ms beside minidl in one process,
30.4-31.0 ms in its own). So the parent (``compare_torch.py``) never imports torch or minidl; it starts
this file once per framework and round, with the thread settings in the environment:

    python benchmarks/isolated.py '{"framework": "numba", "workloads": ["W3"], "threads": 2, ...}'

The child builds each workload, runs ``warmup`` steps (JIT compilation, lazy set-up, caches; timed and
reported, never mixed with the rest), then times ``steps`` single steps, and prints one JSON line.
``OVH`` is the per-op overhead of ``overhead.py``: each sample is the mean of ``ovh_calls`` calls, in us.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

FRAMEWORKS = ("torch", "numpy", "numba")  # "numpy" and "numba" are minidl's CPU backends
PEERS = ("dezero", "chainer")  # compare_peers.py: their own venv (NumPy < 1.24), given as ``python``
ROOT = Path(__file__).resolve().parent.parent


def thread_env(threads: int) -> dict[str, str]:
    """The environment of every child: the same thread count for every pool, Numba's workqueue layer."""
    env = dict(os.environ)
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
        env[var] = str(threads)
    env["NUMBA_THREADING_LAYER"] = "workqueue"  # the OpenMP layer spin-waits: 50x outliers on 2 busy cores
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


def run_isolated(framework: str, workloads: list[str], threads: int, warmup: int, steps: int,
                 ovh_calls: int = 500, python: str = sys.executable) -> dict:
    """Start a child (interpreter ``python``) that times ``workloads`` in ``framework``; its report, or
    ``{"error": ...}``."""
    spec = dict(framework=framework, workloads=workloads, threads=threads, warmup=warmup, steps=steps,
                ovh_calls=ovh_calls)
    t0 = time.perf_counter()
    done = subprocess.run([python, __file__, json.dumps(spec)], capture_output=True, text=True,
                          env=thread_env(threads), cwd=ROOT)
    if done.returncode != 0:
        return {"error": done.stderr.strip().splitlines()[-1] if done.stderr.strip() else f"exit {done.returncode}"}
    report = json.loads(done.stdout.strip().splitlines()[-1])
    report["process_s"] = time.perf_counter() - t0
    return report


def _make_step(framework: str, workload: str, threads: int, ovh_calls: int):
    if framework in PEERS:
        from benchmarks import compare_peers

        return compare_peers.dezero_step(workload) if framework == "dezero" else compare_peers.chainer_step(workload)
    from benchmarks import overhead
    from benchmarks.workloads import minidl_step, torch_step

    if workload == "OVH":
        one = overhead.torch_step(threads) if framework == "torch" else overhead.minidl_step(framework)

        def step() -> None:
            for _ in range(ovh_calls):
                one()

        return step
    return torch_step(workload, threads=threads) if framework == "torch" else minidl_step(workload, framework)


def _thread_settings(framework: str) -> dict:
    """The thread counts this process really runs with, as the libraries report them."""
    settings = {var: os.environ.get(var) for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
                                                       "NUMBA_NUM_THREADS", "NUMBA_THREADING_LAYER")}
    if framework == "torch":
        import torch

        settings.update(torch_threads=torch.get_num_threads(), torch_interop_threads=torch.get_num_interop_threads())
    elif "numba" in sys.modules:
        import numba

        settings.update(numba_threads=numba.get_num_threads(), numba_layer=numba.threading_layer())
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return settings
    settings["pools"] = sorted(f"{lib['internal_api']} {lib['num_threads']}" for lib in threadpool_info())
    return settings


def _time_each(step, n: int, scale: float) -> list[float]:
    times = []
    for _ in range(n):
        t = time.perf_counter()
        step()
        times.append((time.perf_counter() - t) * scale)
    return times


def measure(spec: dict) -> dict:
    """In the child: warm-up and per-step times of every workload of ``spec`` (ms; OVH in us per call)."""
    framework, threads = spec["framework"], spec["threads"]
    t0 = time.perf_counter()
    if framework == "torch":
        import torch

        torch.set_num_threads(threads)
        torch.set_num_interop_threads(threads)
        version = torch.__version__
    elif framework in PEERS:
        version = __import__(framework).__version__
    else:
        import minidl

        minidl.get_backend(framework)  # raises if this backend is not installed (numba)
        version = minidl.__version__
    report = {"framework": framework, "version": version, "import_s": time.perf_counter() - t0,
              "pid": os.getpid(), "workloads": {}}
    for workload in spec["workloads"]:
        step = _make_step(framework, workload, threads, spec["ovh_calls"])
        # OVH: us per call of (a * b).sum().backward(); workloads: ms per training step
        scale = 1e6 / spec["ovh_calls"] if workload == "OVH" else 1e3
        warmup = _time_each(step, spec["warmup"], scale)  # reported apart, never in the medians
        report["workloads"][workload] = {"warmup": warmup, "times": _time_each(step, spec["steps"], scale)}
    report["threads"] = _thread_settings(framework)
    return report


if __name__ == "__main__":
    print(json.dumps(measure(json.loads(sys.argv[1]))))
