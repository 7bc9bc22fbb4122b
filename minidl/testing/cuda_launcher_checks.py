"""Direct checks of every Numba-CUDA launcher against independent NumPy formulas (float64).

The backend-level cases (``kernel_cases.py``) compare the backends' kernels with the NumPy reference backend;
these go one level down and call the launchers of this package on plain NumPy arrays, as the CUDA
simulator allows, checking backward kernels against central finite differences. Run by ``gpu_selftest``
under the simulator only (on a GPU, kernels need device arrays).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from minidl.backends.cuda_kernels import attention, conv, embedding, losses, norm, optim, pool, rnn
from minidl.backends.shapes import conv_out_size


def close(got, want, what: str, tol: float = 1e-10) -> None:
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol, err_msg=what)


def numerical_grad(f: Callable[[], float], a: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """d f / d a by central differences, perturbing ``a`` in place."""
    g = np.zeros_like(a)
    for idx in np.ndindex(a.shape):
        a[idx] += eps
        up = f()
        a[idx] -= 2 * eps
        down = f()
        a[idx] += eps
        g[idx] = (up - down) / (2 * eps)
    return g


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def check_cross_entropy(rng: np.random.Generator) -> None:
    x, t = rng.standard_normal((3, 7)), np.array([1, -100, 6])
    loss, lse = np.empty(3), np.empty(3)
    losses.xent_forward(x, t, loss, lse, -100)
    want_lse = np.log(np.exp(x).sum(1))
    close(lse, want_lse, "lse")
    close(loss, np.where(t == -100, 0, want_lse - x[np.arange(3), np.maximum(t, 0)]), "loss")
    g, gx = rng.standard_normal(3), np.empty_like(x)
    losses.xent_backward(x, t, lse, g, gx, -100)
    onehot = np.zeros_like(x)
    onehot[0, 1] = onehot[2, 6] = 1
    close(gx, np.where((t == -100)[:, None], 0, (np.exp(x - want_lse[:, None]) - onehot) * g[:, None]), "gx")


def check_layer_norm(rng: np.random.Generator) -> None:
    x, w, b = rng.standard_normal((3, 40)), rng.standard_normal(40), rng.standard_normal(40)
    y, mean, rstd = np.empty_like(x), np.empty(3), np.empty(3)
    norm.layer_norm_forward(x, w, b, y, mean, rstd, 1e-5)
    r = 1 / np.sqrt(x.var(1, keepdims=True) + 1e-5)
    xhat = (x - x.mean(1, keepdims=True)) * r
    close(y, xhat * w + b, "y")
    close(rstd, r[:, 0], "rstd")
    norm.layer_norm_forward(x, None, None, y, mean, rstd, 1e-5)
    close(y, xhat, "y without weight and bias")
    close(mean, x.mean(1), "mean without weight and bias")
    gy, gx, gw, gb = rng.standard_normal(x.shape), np.empty_like(x), np.empty(40), np.empty(40)
    norm.layer_norm_backward(gy, x, w, mean, rstd, gx, gw, gb)
    g = gy * w
    close(gx, r * (g - g.mean(1, keepdims=True) - xhat * (g * xhat).mean(1, keepdims=True)), "gx")
    close(gw, (gy * xhat).sum(0), "gw")
    close(gb, gy.sum(0), "gb")


def check_maxpool2d(rng: np.random.Generator) -> None:
    x = rng.permutation(2 * 2 * 5 * 6).reshape(2, 2, 5, 6).astype(float)  # distinct values: no ties
    (kh, kw), (sh, sw), (ph, pw) = (3, 2), (2, 1), (1, 1)
    oh_n, ow_n = conv_out_size(5, kh, sh, ph, 1), conv_out_size(6, kw, sw, pw, 1)
    y, arg = np.empty((2, 2, oh_n, ow_n)), np.empty((2, 2, oh_n, ow_n), np.int64)
    pool.maxpool2d_forward(x, y, arg, (kh, kw), (sh, sw), (ph, pw))
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=-np.inf)
    for oh in range(oh_n):
        for ow in range(ow_n):
            win = xp[:, :, oh * sh:oh * sh + kh, ow * sw:ow * sw + kw].reshape(2, 2, -1)
            a = win.argmax(-1)
            close(y[:, :, oh, ow], win.max(-1), "y")
            assert (arg[:, :, oh, ow] == (oh * sh + a // kw - ph) * 6 + ow * sw + a % kw - pw).all(), "argmax"
    gy, gx = rng.standard_normal(y.shape), np.zeros_like(x)
    pool.maxpool2d_backward(gy, arg, gx)
    want = np.zeros((2, 2, 30))
    for n in range(2):
        for c in range(2):
            np.add.at(want[n, c], arg[n, c].ravel(), gy[n, c].ravel())
    close(gx, want.reshape(x.shape), "gx (overlapping windows)")


def check_adam(rng: np.random.Generator) -> None:
    for decoupled, amsgrad, maximize in ((False, False, False), (True, False, False), (False, True, True)):
        p, g, m, v = rng.standard_normal(50), rng.standard_normal(50), rng.standard_normal(50), rng.random(50)
        vmax = rng.random(50) if amsgrad else None
        p0, m0, v0, vmax0 = p.copy(), m.copy(), v.copy(), None if vmax is None else vmax.copy()
        optim.adam_update(p, g, m, v, 1e-2, 0.9, 0.999, 1e-8, 0.1, 3, decoupled, vmax, maximize)
        grad = -g if maximize else g
        grad = grad if decoupled else grad + 0.1 * p0
        start = p0 * (1 - 1e-2 * 0.1) if decoupled else p0
        m1, v1 = 0.9 * m0 + 0.1 * grad, 0.999 * v0 + 0.001 * grad**2
        denom = v1 if vmax is None else np.maximum(vmax0, v1)
        close(m, m1, "m")
        close(v, v1, "v")
        if vmax is not None:
            close(vmax, denom, "vmax")
        want = start - 1e-2 * (m1 / (1 - 0.9**3)) / (np.sqrt(denom / (1 - 0.999**3)) + 1e-8)
        close(p, want, f"p ({decoupled=}, {amsgrad=}, {maximize=})")


def check_lstm_cell(rng: np.random.Generator) -> None:
    B, H = 3, 5
    z, c_prev = rng.standard_normal((B, 4 * H)), rng.standard_normal((B, H))
    h, c, acts = np.empty((B, H)), np.empty((B, H)), np.empty((B, 4 * H))
    rnn.lstm_cell_forward(z, c_prev, h, c, acts)

    def cell(z, c_prev):
        i, f, g, o = sigmoid(z[:, :H]), sigmoid(z[:, H:2 * H]), np.tanh(z[:, 2 * H:3 * H]), sigmoid(z[:, 3 * H:])
        c = f * c_prev + i * g
        return o * np.tanh(c), c

    close(h, cell(z, c_prev)[0], "h")
    close(c, cell(z, c_prev)[1], "c")
    gh, gc = rng.standard_normal((B, H)), rng.standard_normal((B, H))
    gz, gc_prev = np.empty_like(z), np.empty_like(c_prev)
    rnn.lstm_cell_backward(gh, gc, acts, c_prev, c, gz, gc_prev)

    def objective():
        h, c = cell(z, c_prev)
        return float((gh * h).sum() + (gc * c).sum())

    close(gz, numerical_grad(objective, z), "gz", 1e-6)
    close(gc_prev, numerical_grad(objective, c_prev), "gc_prev", 1e-6)


def check_gru_cell(rng: np.random.Generator) -> None:
    B, H = 3, 5
    a, b, h_prev = rng.standard_normal((B, 3 * H)), rng.standard_normal((B, 3 * H)), rng.standard_normal((B, H))

    def cell(a, b, h_prev):
        r, z = sigmoid(a[:, :H] + b[:, :H]), sigmoid(a[:, H:2 * H] + b[:, H:2 * H])
        return (1 - z) * np.tanh(a[:, 2 * H:] + r * b[:, 2 * H:]) + z * h_prev

    h, acts = np.empty((B, H)), np.empty((B, 4 * H))
    rnn.gru_cell_forward(a, b, h_prev, h, acts)
    close(h, cell(a, b, h_prev), "h")
    gh = rng.standard_normal((B, H))
    ga, gb, gh_prev = np.empty_like(a), np.empty_like(b), np.empty_like(h_prev)
    rnn.gru_cell_backward(gh, acts, h_prev, ga, gb, gh_prev)

    def objective():
        return float((gh * cell(a, b, h_prev)).sum())

    close(ga, numerical_grad(objective, a), "ga", 1e-6)
    close(gb, numerical_grad(objective, b), "gb", 1e-6)
    close(gh_prev, numerical_grad(objective, h_prev), "gh_prev (direct path)", 1e-6)


def check_im2col(rng: np.random.Generator) -> None:
    N, C, H, W, kh, kw = 2, 2, 5, 6, 2, 3
    (sh, sw), (ph, pw), (dh, dw) = (2, 1), (1, 2), (2, 1)
    OH, OW = conv_out_size(H, kh, sh, ph, dh), conv_out_size(W, kw, sw, pw, dw)
    x, cols = rng.standard_normal((N, C, H, W)), np.empty((N, C, kh, kw, OH, OW))
    conv.im2col(x, cols, (sh, sw), (ph, pw), (dh, dw))
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    for i in range(kh):
        for j in range(kw):
            rows, columns = slice(i * dh, i * dh + sh * (OH - 1) + 1, sh), slice(j * dw, j * dw + sw * (OW - 1) + 1, sw)
            close(cols[:, :, i, j], xp[:, :, rows, columns], "cols")
    g, gx = rng.standard_normal(cols.shape), np.empty_like(x)
    conv.col2im(g, gx, (sh, sw), (ph, pw), (dh, dw))
    close((gx * x).sum(), (g * cols).sum(), "col2im is the adjoint: <col2im(g), x> = <g, im2col(x)>")


def check_attention(rng: np.random.Generator) -> None:
    for causal in (False, True):
        _check_attention(rng, causal)


def _check_attention(rng: np.random.Generator, causal: bool) -> None:
    BH, T, D, scale = 2, 11, 3, 0.7  # T spans two query blocks and several partial key tiles
    q, k, v = (rng.standard_normal((BH, T, D)) for _ in range(3))

    def attend(q, k, v):
        s = scale * q @ k.transpose(0, 2, 1)
        if causal:
            s = np.where(np.tril(np.ones((T, T), bool)), s, -np.inf)
        m = s.max(-1, keepdims=True)
        lse = np.log(np.exp(s - m).sum(-1, keepdims=True)) + m
        return np.exp(s - lse) @ v, lse[..., 0]

    out, lse = np.empty_like(q), np.empty((BH, T))
    attention.attention_forward(q, k, v, out, lse, scale, causal)
    close(out, attend(q, k, v)[0], f"out ({causal=})")
    close(lse, attend(q, k, v)[1], f"lse ({causal=})")
    gout = rng.standard_normal(out.shape)
    gq, gk, gv, delta = np.empty_like(q), np.empty_like(k), np.empty_like(v), np.empty((BH, T))
    attention.attention_backward(q, k, v, out, lse, gout, gq, gk, gv, delta, scale, causal)

    def objective():
        return float((gout * attend(q, k, v)[0]).sum())

    for name, got, a in (("gq", gq, q), ("gk", gk, k), ("gv", gv, v)):
        close(got, numerical_grad(objective, a), f"{name} ({causal=})", 1e-6)


def check_embedding(rng: np.random.Generator) -> None:
    indices, grad = np.array([3, 0, 3, -1, 2, 3]), rng.standard_normal((6, 5))
    gw = np.zeros((4, 5))
    embedding.embedding_backward(indices, grad, gw, 2)  # row 2 is padding: stays 0
    want = np.zeros((4, 5))
    np.add.at(want, indices, grad)
    want[2] = 0
    close(gw, want, "gw (repeated rows, a negative index, padding)")


CHECKS: list[Callable[[np.random.Generator], None]] = [
    check_cross_entropy, check_layer_norm, check_maxpool2d, check_adam, check_lstm_cell, check_gru_cell,
    check_im2col, check_attention, check_embedding,
]
