"""Convolutions through the harness: forward against a direct nested-loop NumPy computation, float64
gradients against finite differences, double backward; plus shape errors and a PyTorch cross-check."""

import numpy as np
import pytest

import minidl
from minidl.ops.conv import conv1d, conv2d, conv_transpose2d
from minidl.testing import OpCase, make_op_tests, randn


def _pair(v):
    return tuple(v) if isinstance(v, tuple | list) else (v, v)


def ref_conv2d(x, w, b=None, stride=1, padding=0, dilation=1, groups=1):
    """y[n, o, i, j] = b[o] + sum over c, a, e of w[o, c, a, e] * xpad[n, g*Cg + c, i*s + a*d, j*s + e*d]."""
    (sh, sw), (ph, pw), (dh, dw) = _pair(stride), _pair(padding), _pair(dilation)
    N, C, H, W = x.shape
    O, Cg, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    OH, OW = (H + 2 * ph - dh * (kh - 1) - 1) // sh + 1, (W + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    y = np.zeros((N, O, OH, OW))
    for n in range(N):
        for o in range(O):
            g = o // (O // groups)
            for i in range(OH):
                for j in range(OW):
                    for a in range(kh):
                        for e in range(kw):
                            patch = xp[n, g * Cg:(g + 1) * Cg, i * sh + a * dh, j * sw + e * dw]
                            y[n, o, i, j] += (w[o, :, a, e] * patch).sum()
            if b is not None:
                y[n, o] += b[o]
    return y


def ref_conv_transpose2d(x, w, b=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """Scatter form: every x[n, c, i, j] adds x * w[c, o] into y at (i*s - p + a*d, j*s - p + e*d)."""
    (sh, sw), (ph, pw), (dh, dw), (oph, opw) = _pair(stride), _pair(padding), _pair(dilation), _pair(output_padding)
    N, C, H, W = x.shape
    _, Og, kh, kw = w.shape
    OH, OW = (H - 1) * sh - 2 * ph + dh * (kh - 1) + oph + 1, (W - 1) * sw - 2 * pw + dw * (kw - 1) + opw + 1
    y = np.zeros((N, Og * groups, OH, OW))
    for n in range(N):
        for c in range(C):
            g = c // (C // groups)
            for i in range(H):
                for j in range(W):
                    for a in range(kh):
                        for e in range(kw):
                            h, v = i * sh - ph + a * dh, j * sw - pw + e * dw
                            if 0 <= h < OH and 0 <= v < OW:
                                y[n, g * Og:(g + 1) * Og, h, v] += x[n, c, i, j] * w[c, :, a, e]
    if b is not None:
        y += b.reshape(1, -1, 1, 1)
    return y


def ref_conv1d(x, w, b=None, stride=1, padding=0, dilation=1, groups=1):
    return ref_conv2d(x[:, :, None], w[:, :, None], b, (1, stride), (0, padding), (1, dilation), groups)[:, :, 0]


def ref_same(x, w):
    # PyTorch's 'same' for an even kernel: total padding d*(k-1), the extra one at the end
    (kh, kw) = w.shape[2:]
    th, tw = kh - 1, kw - 1
    xp = np.pad(x, ((0, 0), (0, 0), (th // 2, th - th // 2), (tw // 2, tw - tw // 2)))
    return ref_conv2d(xp, w)


CASES = [
    OpCase("conv2d", lambda x, w, b: conv2d(x, w, b), ref_conv2d, [randn(2, 3, 5, 5), randn(4, 3, 3, 3), randn(4)]),
    OpCase("conv2d_no_bias_1x1", lambda x, w: conv2d(x, w), ref_conv2d, [randn(2, 3, 3, 4), randn(2, 3, 1, 1)]),
    OpCase("conv2d_stride2_pad1", lambda x, w, b: conv2d(x, w, b, stride=2, padding=1),
           lambda x, w, b: ref_conv2d(x, w, b, 2, 1), [randn(2, 2, 6, 5), randn(3, 2, 3, 3), randn(3)]),
    OpCase("conv2d_rect_stride_pad", lambda x, w: conv2d(x, w, stride=(1, 2), padding=(2, 0)),
           lambda x, w: ref_conv2d(x, w, None, (1, 2), (2, 0)), [randn(1, 2, 4, 7), randn(2, 2, 3, 2)]),
    OpCase("conv2d_dilation2", lambda x, w: conv2d(x, w, padding=1, dilation=2),
           lambda x, w: ref_conv2d(x, w, None, 1, 1, 2), [randn(2, 2, 6, 6), randn(2, 2, 3, 3)]),
    OpCase("conv2d_groups2", lambda x, w, b: conv2d(x, w, b, groups=2),
           lambda x, w, b: ref_conv2d(x, w, b, groups=2), [randn(2, 4, 4, 4), randn(6, 2, 2, 2), randn(6)]),
    OpCase("conv2d_depthwise_stride2", lambda x, w: conv2d(x, w, stride=2, padding=1, groups=3),
           lambda x, w: ref_conv2d(x, w, None, 2, 1, 1, 3), [randn(1, 3, 5, 5), randn(3, 1, 3, 3)]),
    OpCase("conv2d_same_even_kernel", lambda x, w: conv2d(x, w, padding="same"), ref_same,
           [randn(1, 2, 4, 5), randn(2, 2, 2, 3)]),
    OpCase("conv2d_valid", lambda x, w: conv2d(x, w, padding="valid"), ref_conv2d,
           [randn(1, 2, 4, 4), randn(1, 2, 3, 3)]),
    OpCase("conv1d", lambda x, w, b: conv1d(x, w, b, stride=2, padding=1), lambda x, w, b: ref_conv1d(x, w, b, 2, 1),
           [randn(2, 3, 7), randn(4, 3, 3), randn(4)]),
    OpCase("conv1d_dilation_groups", lambda x, w: conv1d(x, w, dilation=2, groups=2),
           lambda x, w: ref_conv1d(x, w, None, 1, 0, 2, 2), [randn(2, 4, 8), randn(2, 2, 3)]),
    OpCase("conv1d_same", lambda x, w: conv1d(x, w, padding="same"), lambda x, w: ref_conv1d(x, w, None, 1, 1),
           [randn(1, 2, 6), randn(3, 2, 3)]),
    OpCase("conv_transpose2d", lambda x, w, b: conv_transpose2d(x, w, b), ref_conv_transpose2d,
           [randn(2, 3, 3, 3), randn(3, 2, 3, 3), randn(2)]),
    OpCase("conv_transpose2d_stride2_outpad", lambda x, w: conv_transpose2d(x, w, stride=2, padding=1,
                                                                            output_padding=1),
           lambda x, w: ref_conv_transpose2d(x, w, None, 2, 1, 1), [randn(1, 2, 3, 3), randn(2, 3, 3, 3)]),
    OpCase("conv_transpose2d_groups_dilation", lambda x, w, b: conv_transpose2d(x, w, b, stride=(2, 1), groups=2,
                                                                                dilation=2),
           lambda x, w, b: ref_conv_transpose2d(x, w, b, (2, 1), 0, 0, 2, 2),
           [randn(1, 4, 3, 2), randn(4, 1, 2, 2), randn(2)]),
]


test_forward, test_backward, test_double_backward = make_op_tests(CASES)


def test_conv2d_known_values():
    x = minidl.tensor(np.arange(16.0).reshape(1, 1, 4, 4))  # float64, as in PyTorch
    w = minidl.tensor([[[[1.0, 0.0], [0.0, -1.0]]]], dtype="float64")
    y = conv2d(x, w, stride=2)
    np.testing.assert_array_equal(y.numpy(), [[[[-5.0, -5.0], [-5.0, -5.0]]]])


def test_float32_stays_float32_with_a_python_bias_scale():
    x = minidl.randn(2, 3, 5, 5, requires_grad=True)
    w = minidl.randn(4, 3, 3, 3, requires_grad=True)
    y = conv2d(x, w * 0.5, padding=1)
    y.sum().backward()
    assert y.dtype == x.grad.dtype == w.grad.dtype == np.float32


@pytest.mark.parametrize(("call", "message"), [
    (lambda: conv2d(minidl.randn(2, 3, 5), minidl.randn(4, 3, 3, 3)), "4-d input"),
    (lambda: conv2d(minidl.randn(2, 3, 5, 5), minidl.randn(4, 2, 3, 3)), "input channels 3"),
    (lambda: conv2d(minidl.randn(2, 4, 5, 5), minidl.randn(3, 2, 3, 3), groups=2), "groups=2"),
    (lambda: conv2d(minidl.randn(2, 3, 2, 2), minidl.randn(4, 3, 3, 3)), "at least as large"),
    (lambda: conv2d(minidl.randn(2, 3, 5, 5), minidl.randn(4, 3, 3, 3), minidl.randn(3)), "bias of shape"),
    (lambda: conv_transpose2d(minidl.randn(1, 2, 3, 3), minidl.randn(2, 2, 3, 3), stride=2, output_padding=2),
     "output_padding"),
])
def test_shape_errors_name_the_op_and_shapes(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_same_padding_needs_stride_one():
    with pytest.raises(ValueError, match="same"):
        conv2d(minidl.randn(1, 1, 5, 5), minidl.randn(1, 1, 3, 3), stride=2, padding="same")


def test_against_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    x, w, b = rng.standard_normal((2, 4, 9, 8)), rng.standard_normal((6, 2, 3, 2)), rng.standard_normal(6)
    kw = dict(stride=(2, 1), padding=(1, 2), dilation=(1, 2), groups=2)
    tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    ty = torch.nn.functional.conv2d(tx, tw, tb, **kw)
    mx, mw, mb = (minidl.tensor(a, requires_grad=True) for a in (x, w, b))
    my = conv2d(mx, mw, mb, **kw)
    np.testing.assert_allclose(my.detach().numpy(), ty.detach().numpy(), rtol=1e-10, atol=1e-12)
    g = rng.standard_normal(ty.shape)
    ty.backward(torch.tensor(g))
    my.backward(minidl.tensor(g))
    for m, t in ((mx, tx), (mw, tw), (mb, tb)):
        np.testing.assert_allclose(m.grad.numpy(), t.grad.numpy(), rtol=1e-10, atol=1e-12)
    # conv_transpose2d
    xt, wt = rng.standard_normal((2, 4, 3, 4)), rng.standard_normal((4, 3, 3, 3))
    kw = dict(stride=2, padding=1, output_padding=(1, 0), groups=2, dilation=1)
    ref = torch.nn.functional.conv_transpose2d(torch.tensor(xt), torch.tensor(wt), **kw).numpy()
    np.testing.assert_allclose(conv_transpose2d(minidl.tensor(xt), minidl.tensor(wt), **kw).numpy(), ref,
                               rtol=1e-10, atol=1e-12)


def test_conv1d_accepts_one_tuples_like_torch():
    x, w = minidl.randn(2, 3, 9), minidl.randn(4, 3, 3)
    np.testing.assert_array_equal(conv1d(x, w, stride=(2,), padding=(1,), dilation=(2,)).numpy(),
                                  conv1d(x, w, stride=2, padding=1, dilation=2).numpy())
