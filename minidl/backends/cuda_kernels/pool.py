"""2-d max pooling (twin of ``kernels/pool.cu``): one thread per output element.

    y[n, c, oh, ow] = max over the window of x[n, c, oh*sh - ph + a, ow*sw - pw + b]   (padding never wins)
    argmax = flat index h * W + w of the maximum in its (H, W) plane (the first one on ties)
    gx[n, c, h, w] = sum of gy over the outputs whose argmax is (h, w)   (atomic adds: windows may overlap)
"""

from __future__ import annotations

import math

from numba import cuda

from minidl.backends.cuda_kernels._common import ELEMENT_THREADS, blocks_for


@cuda.jit
def maxpool2d_forward_kernel(x, y, argmax, kh, kw, sh, sw, ph, pw):
    N, C, H, W = x.shape
    OH, OW = y.shape[2], y.shape[3]
    for k in range(cuda.grid(1), N * C * OH * OW, cuda.gridsize(1)):
        ow = k % OW
        oh = (k // OW) % OH
        c = (k // (OW * OH)) % C
        n = k // (OW * OH * C)
        best = -math.inf
        best_at = -1
        for a in range(kh):
            h = oh * sh - ph + a
            if h < 0 or h >= H:
                continue
            for b in range(kw):
                w = ow * sw - pw + b
                if w < 0 or w >= W:
                    continue
                v = x[n, c, h, w]
                if v > best or best_at < 0:
                    best = v
                    best_at = h * W + w
        y[n, c, oh, ow] = best
        argmax[n, c, oh, ow] = best_at


@cuda.jit
def maxpool2d_backward_kernel(gy, argmax, gx):
    N, C, OH, OW = gy.shape
    W = gx.shape[3]
    for k in range(cuda.grid(1), N * C * OH * OW, cuda.gridsize(1)):
        ow = k % OW
        oh = (k // OW) % OH
        c = (k // (OW * OH)) % C
        n = k // (OW * OH * C)
        at = argmax[n, c, oh, ow]
        if at >= 0:
            cuda.atomic.add(gx, (n, c, at // W, at % W), gy[n, c, oh, ow])


def maxpool2d_forward(x, y, argmax, kernel, stride, padding) -> None:
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, padding
    maxpool2d_forward_kernel[blocks_for(y.size), ELEMENT_THREADS](x, y, argmax, kh, kw, sh, sw, ph, pw)


def maxpool2d_backward(gy, argmax, gx) -> None:
    """Add gy into the zero-filled ``gx`` at the argmax positions."""
    maxpool2d_backward_kernel[blocks_for(gy.size), ELEMENT_THREADS](gy, argmax, gx)
