"""Row-wise softmax and log-softmax: one thread block per row (twin of ``kernels/softmax.cu``).

    m = max_j x_j,   s = sum_j exp(x_j - m)
    softmax(x)_j     = exp(x_j - m) / s
    log_softmax(x)_j = x_j - m - log(s)

Thread t of a block handles elements t, t + THREADS, ... of its row (neighbouring threads read
neighbouring addresses), keeps a partial max and a partial sum, and the block combines them.
"""

from __future__ import annotations

import math

from numba import cuda

from minidl.backends.cuda_kernels._common import ACCUMULATOR, THREADS, block_max, block_sum


@cuda.jit
def softmax_rows_kernel(x, out, log):
    row = cuda.blockIdx.x
    tid = cuda.threadIdx.x
    scratch = cuda.shared.array(THREADS, ACCUMULATOR)
    d = x.shape[1]

    m = -math.inf
    for j in range(tid, d, THREADS):
        m = max(m, x[row, j])
    m = block_max(m, scratch)

    s = 0.0
    for j in range(tid, d, THREADS):
        s += math.exp(x[row, j] - m)
    s = block_sum(s, scratch)

    if log:
        shift = m + math.log(s)
        for j in range(tid, d, THREADS):
            out[row, j] = x[row, j] - shift
    else:
        for j in range(tid, d, THREADS):
            out[row, j] = math.exp(x[row, j] - m) / s


def softmax_rows(x, out, log: bool) -> None:
    """Write the (log-)softmax of each row of the 2-d array ``x`` into ``out``."""
    softmax_rows_kernel[x.shape[0], THREADS](x, out, log)
