"""What every Numba-CUDA kernel module shares: the block size and block-wide reductions.

Under the simulator every GPU thread is a Python thread, so blocks are kept small there (32 threads);
on a GPU a row kernel uses 256. Numba freezes module globals into a kernel when it compiles it, so
``THREADS`` is a compile-time constant (shared-array sizes must be).
"""

from __future__ import annotations

import os

from numba import cuda, float64

#: True when Numba runs kernels in its CUDA simulator (on the CPU, on host arrays)
SIMULATED: bool = os.environ.get("NUMBA_ENABLE_CUDASIM", "0") not in ("", "0")
#: threads per block of the one-block-per-row kernels: a power of two
THREADS: int = 32 if SIMULATED else 256
#: threads per block of the one-thread-per-element kernels
ELEMENT_THREADS: int = 32 if SIMULATED else 256
#: the dtype of shared scratch arrays (partial sums are accumulated in float64)
ACCUMULATOR = float64


def placeholder(dtype):
    """A one-element device array to pass where an optional array is absent (the kernel never reads it).

    Never pass another argument twice instead: the simulator copies each argument back to the host after
    the launch, so an alias would overwrite the real array with its stale copy."""
    return cuda.device_array(1, dtype=dtype)


def blocks_for(n: int, threads: int = ELEMENT_THREADS) -> int:
    """Blocks needed to give ``n`` elements one thread each (at least one block)."""
    return max(1, -(-n // threads))


@cuda.jit(device=True)
def block_sum(value, scratch):
    """The sum of ``value`` over the THREADS threads of the block; every thread gets it.

    A tree reduction in the shared array ``scratch`` (THREADS slots): at each step the lower half of
    the active threads adds the upper half's values, so log2(THREADS) steps leave the sum in slot 0.
    Every thread of the block must call it (it synchronises the block).
    """
    tid = cuda.threadIdx.x
    cuda.syncthreads()  # earlier readers of scratch[0] are done
    scratch[tid] = value
    cuda.syncthreads()
    step = THREADS // 2
    while step > 0:
        if tid < step:
            scratch[tid] += scratch[tid + step]
        cuda.syncthreads()
        step //= 2
    return scratch[0]


@cuda.jit(device=True)
def block_max(value, scratch):
    """The maximum of ``value`` over the block (same scheme as ``block_sum``)."""
    tid = cuda.threadIdx.x
    cuda.syncthreads()
    scratch[tid] = value
    cuda.syncthreads()
    step = THREADS // 2
    while step > 0:
        if tid < step:
            scratch[tid] = max(scratch[tid], scratch[tid + step])
        cuda.syncthreads()
        step //= 2
    return scratch[0]
