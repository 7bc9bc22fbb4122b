"""How many threads minidl's CPU libraries use: one per idle core, never more.

NumPy's BLAS (OpenBLAS), Numba's parallel kernels and OpenMP each start a pool of threads, by default
one per core. On a machine whose cores other jobs already keep busy, those threads fight the other
jobs and each other: a newcomer's MNIST CNN run on 2 busy cores took 312 s instead of 28 s.
:func:`choose_num_threads` picks one count from the cores this process may run on and the load
average; :func:`limit_threads` gives every pool that count.

``python -m minidl.examples`` calls :func:`configure_threads` before it runs an example; a program of
your own can do the same first thing. ``MINIDL_NUM_THREADS=N`` overrides the choice.

Where it must happen: a pool reads its size from the environment when its library is loaded
(``OPENBLAS_NUM_THREADS`` when NumPy is first imported, ``NUMBA_NUM_THREADS`` when Numba is), and
``import minidl`` already imports NumPy. So :func:`limit_threads` sets the variables for the libraries
not loaded yet (and for child processes), and resizes those already loaded through their own API:
threadpoolctl's when it is installed, else OpenBLAS's ``openblas_set_num_threads``; ``numba.set_num_threads``.

>>> choose_num_threads(cpus=2, load=0.3)
2
>>> choose_num_threads(cpus=2, load=1.6)  # one core is taken
1
>>> choose_num_threads(cpus=2, load=1.6, override="2")
2
"""

from __future__ import annotations

import ctypes
import math
import os
import sys

ENV_VAR = "MINIDL_NUM_THREADS"
POOL_ENV_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS")


def choose_num_threads(cpus: int, load: float | None, machine_cpus: int | None = None,
                       override: str | None = None) -> int:
    """The number of threads for each pool: the idle cores among ``cpus``, at least 1.

    ``cpus`` are the cores this process may run on, ``load`` the 1-minute load average (``None`` where
    the system has none: all ``cpus`` are used) and ``machine_cpus`` the machine's cores, which the load
    average is spread over (``cpus`` when omitted). The busy share of our cores is
    ``load * cpus / machine_cpus``; the idle ones, rounded to the nearest whole core, get a thread each.
    ``override`` (the value of ``MINIDL_NUM_THREADS``) wins when set.

    >>> choose_num_threads(cpus=2, load=0.4)
    2
    >>> choose_num_threads(cpus=2, load=3.0)  # more runnable jobs than cores: one thread
    1
    >>> choose_num_threads(cpus=8, load=16.0, machine_cpus=64)  # our 8 of 64 cores carry 2 of the load
    6
    """
    if override is not None and override.strip():
        if not override.strip().isdigit() or int(override) < 1:
            raise ValueError(f"{ENV_VAR} must be a whole number >= 1, got {override!r}")
        return int(override)
    if load is None:
        return max(1, cpus)
    busy = load * cpus / (machine_cpus or cpus)
    return max(1, min(cpus, math.floor(cpus - busy + 0.5)))


def available_cpus() -> int:
    """The cores this process may run on (its affinity mask; ``taskset`` and containers narrow it)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def load_average() -> float | None:
    """The 1-minute load average (runnable jobs, averaged), or ``None`` where the system has none."""
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return None


def configure_threads() -> int:
    """Choose the thread count for this machine now (or take ``MINIDL_NUM_THREADS``), apply it, return it.

    Also selects Numba's ``workqueue`` threading layer unless ``NUMBA_THREADING_LAYER`` is set: the
    default OpenMP layer spin-waits, which on a busy 2-core machine gives 50x slower outliers.
    """
    threads = choose_num_threads(available_cpus(), load_average(), machine_cpus=os.cpu_count(),
                                 override=os.environ.get(ENV_VAR))
    os.environ.setdefault("NUMBA_THREADING_LAYER", "workqueue")
    limit_threads(threads)
    return threads


def limit_threads(n: int) -> None:
    """Give NumPy's BLAS, OpenMP and Numba ``n`` threads each, whether or not they are loaded yet."""
    for var in POOL_ENV_VARS:
        os.environ[var] = str(n)  # read by the libraries loaded from now on, and by child processes
    if "numpy" in sys.modules:  # its BLAS has made its pool already
        try:
            from threadpoolctl import threadpool_limits
        except ImportError:
            for set_num_threads in _openblas_functions("set_num_threads"):
                set_num_threads(n)
        else:
            threadpool_limits(limits=n)
    if "numba" in sys.modules:  # its pool size is fixed at import; fewer threads can still be asked for
        import numba

        numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))


def thread_counts() -> dict[str, int]:
    """The threads each loaded pool uses now: ``{"blas": 2, "numba": 2}`` (loaded libraries only)."""
    counts: dict[str, int] = {}
    if "numpy" in sys.modules:
        try:
            from threadpoolctl import threadpool_info
        except ImportError:
            counts.update(("blas", get()) for get in _openblas_functions("get_num_threads"))
        else:
            counts.update(("blas", lib["num_threads"]) for lib in threadpool_info() if lib["user_api"] == "blas")
    if "numba" in sys.modules:
        import numba

        counts["numba"] = numba.get_num_threads()
    return counts


def describe_threads() -> str:
    """One line for a program's first output: the pools' threads now, the cores and the load.

    >>> describe_threads()  # doctest: +SKIP
    'BLAS 1 thread, Numba 1 thread (2 CPUs, load average 1.25; MINIDL_NUM_THREADS=N sets the count)'
    """
    pools = ", ".join(f"{'BLAS' if pool == 'blas' else 'Numba'} {n} thread{'s' if n != 1 else ''}"
                      for pool, n in thread_counts().items())
    load = load_average()
    load_text = "no load average" if load is None else f"load average {load:.2f}"
    return f"{pools or 'no thread pools loaded'} ({available_cpus()} CPUs, {load_text}; {ENV_VAR}=N sets the count)"


def _openblas_functions(name: str) -> list[ctypes._CFuncPtr]:
    """``openblas_<name>`` of every OpenBLAS loaded in this process (NumPy's wheels rename it
    ``scipy_openblas_<name>64_``). Linux only: the loaded libraries are read from /proc/self/maps."""
    try:
        with open("/proc/self/maps") as maps:
            paths = {line.split()[-1] for line in maps if "openblas" in line.rpartition("/")[2].lower()}
    except OSError:
        return []
    found = []
    for path in sorted(paths):
        library = ctypes.CDLL(path)
        for symbol in (f"scipy_openblas_{name}64_", f"openblas_{name}64_", f"openblas_{name}"):
            if hasattr(library, symbol):
                function = getattr(library, symbol)
                function.restype = ctypes.c_int
                found.append(function)
                break
    return found
