"""Gradient of an embedding lookup (twin of ``kernels/embedding.cu``): one thread per element of grad.

    gw[indices[k], d] += grad[k, d]      (repeated rows accumulate, atomically; padding_idx stays 0)
"""

from __future__ import annotations

from numba import cuda

from minidl.backends.cuda_kernels._common import ELEMENT_THREADS, blocks_for


@cuda.jit
def embedding_backward_kernel(indices, grad, gw, padding_idx):
    n, D = grad.shape
    num_embeddings = gw.shape[0]
    for k in range(cuda.grid(1), n * D, cuda.gridsize(1)):
        i = k // D
        row = indices[i]
        if row < 0:
            row += num_embeddings
        if row != padding_idx:
            cuda.atomic.add(gw, (row, k - i * D), grad[i, k - i * D])


def embedding_backward(indices, grad, gw, padding_idx: int) -> None:
    """Add the rows of ``grad`` (n, D) into the zero-filled ``gw`` at ``indices`` (n,), int64."""
    embedding_backward_kernel[blocks_for(grad.size), ELEMENT_THREADS](indices, grad, gw, padding_idx)
