"""im2col and col2im for 2-d convolution (twin of ``kernels/conv.cu``).

    cols[n, c, i, j, p, q] = x[n, c, p*sh + i*dh - ph, q*sw + j*dw - pw]   (0 outside x)
    col2im, its adjoint: gx[n, c, h, w] = sum of the cols entries that read x[n, c, h, w]

im2col: one thread per element of cols. col2im: one thread per element of x, gathering its window
entries (no atomics, deterministic).
"""

from __future__ import annotations

from numba import cuda

from minidl.backends.cuda_kernels._common import ELEMENT_THREADS, blocks_for


@cuda.jit
def im2col_kernel(x, cols, sh, sw, ph, pw, dh, dw):
    N, C, kh, kw, OH, OW = cols.shape
    H, W = x.shape[2], x.shape[3]
    for k in range(cuda.grid(1), cols.size, cuda.gridsize(1)):
        r = k
        q = r % OW
        r //= OW
        p = r % OH
        r //= OH
        j = r % kw
        r //= kw
        i = r % kh
        r //= kh
        c = r % C
        n = r // C
        h = p * sh + i * dh - ph
        w = q * sw + j * dw - pw
        cols[n, c, i, j, p, q] = x[n, c, h, w] if (0 <= h < H and 0 <= w < W) else 0.0


@cuda.jit
def col2im_kernel(cols, x, sh, sw, ph, pw, dh, dw):
    N, C, kh, kw, OH, OW = cols.shape
    H, W = x.shape[2], x.shape[3]
    for k in range(cuda.grid(1), x.size, cuda.gridsize(1)):
        w = k % W
        h = (k // W) % H
        c = (k // (W * H)) % C
        n = k // (W * H * C)
        acc = 0.0
        for i in range(kh):
            ph_ = h + ph - i * dh  # = p * sh for the output row p that reads (h, w) through i
            if ph_ < 0 or ph_ % sh != 0 or ph_ // sh >= OH:
                continue
            for j in range(kw):
                pw_ = w + pw - j * dw
                if pw_ < 0 or pw_ % sw != 0 or pw_ // sw >= OW:
                    continue
                acc += cols[n, c, i, j, ph_ // sh, pw_ // sw]
        x[n, c, h, w] = acc


def im2col(x, cols, stride, padding, dilation) -> None:
    """Fill ``cols`` (N, C, kh, kw, OH, OW) from ``x`` (N, C, H, W)."""
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    im2col_kernel[blocks_for(cols.size), ELEMENT_THREADS](x, cols, sh, sw, ph, pw, dh, dw)


def col2im(cols, x, stride, padding, dilation) -> None:
    """Write into ``x`` (N, C, H, W) the sum of the ``cols`` entries that read each element."""
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    col2im_kernel[blocks_for(x.size), ELEMENT_THREADS](cols, x, sh, sw, ph, pw, dh, dw)
