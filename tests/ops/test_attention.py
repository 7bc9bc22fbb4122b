"""Scaled dot-product attention through the shared harness (forward vs a NumPy float64 reference,
gradcheck, double backward), masks, dropout, causality and errors."""

import numpy as np
import pytest

import minidl
from minidl.ops.attention import scaled_dot_product_attention as sdpa
from minidl.testing import OpCase, make_op_tests, randn


def reference(q, k, v, mask=None, is_causal=False, scale=None):
    """Attention written out with an explicit loop over queries (independent of the kernel)."""
    scale = 1 / np.sqrt(q.shape[-1]) if scale is None else scale
    L, S = q.shape[-2], k.shape[-2]
    out = np.zeros(np.broadcast_shapes(q.shape[:-2], k.shape[:-2]) + (L, v.shape[-1]))
    for i in range(L):
        s = np.einsum("...e,...se->...s", q[..., i, :], k) * scale
        if mask is not None:
            m = np.broadcast_to(mask, s.shape[:-1] + (L, S))[..., i, :]
            s = np.where(m, s, -np.inf) if m.dtype == bool else s + m
        if is_causal:
            s = np.where(np.arange(S) <= i, s, -np.inf)
        w = np.exp(s - s.max(-1, keepdims=True))
        out[..., i, :] = np.einsum("...s,...sd->...d", w / w.sum(-1, keepdims=True), v)
    return out


BOOL_MASK = np.array([[True, False, True, True], [False, True, True, False], [True, True, False, True]])
FLOAT_MASK = np.array([[0.0, -1.0, 0.5, -np.inf], [0.3, 0.0, -np.inf, 2.0], [-0.5, 1.0, 0.0, 0.0]])
PADDING = np.array([True, True, True, False])[None, None, None, :]  # (B, H, L, S) broadcast: last key is padding

CASES = [
    OpCase("sdpa", sdpa, reference, [randn(2, 3, 4), randn(2, 5, 4), randn(2, 5, 3)]),
    OpCase("sdpa_heads", sdpa, reference, [randn(2, 2, 3, 4), randn(2, 2, 4, 4), randn(2, 2, 4, 2)]),
    OpCase("sdpa_causal", lambda q, k, v: sdpa(q, k, v, is_causal=True), lambda q, k, v: reference(q, k, v, None, True),
           [randn(2, 4, 3), randn(2, 4, 3), randn(2, 4, 3)]),
    OpCase("sdpa_bool_mask", lambda q, k, v: sdpa(q, k, v, attn_mask=BOOL_MASK),
           lambda q, k, v: reference(q, k, v, BOOL_MASK), [randn(2, 3, 4), randn(2, 4, 4), randn(2, 4, 2)]),
    OpCase("sdpa_float_mask", lambda q, k, v: sdpa(q, k, v, attn_mask=FLOAT_MASK),
           lambda q, k, v: reference(q, k, v, FLOAT_MASK), [randn(2, 3, 4), randn(2, 4, 4), randn(2, 4, 2)]),
    OpCase("sdpa_padding_and_causal", lambda q, k, v: sdpa(q, k, v, attn_mask=PADDING, is_causal=True),
           lambda q, k, v: reference(q, k, v, PADDING, True), [randn(1, 2, 4, 3) for _ in range(3)]),
    OpCase("sdpa_scale", lambda q, k, v: sdpa(q, k, v, scale=0.3), lambda q, k, v: reference(q, k, v, scale=0.3),
           [randn(3, 4), randn(5, 4), randn(5, 2)]),
    OpCase("sdpa_broadcast_kv", sdpa, reference, [randn(2, 3, 4), randn(1, 4, 4), randn(4, 2)]),
]

test_forward, test_backward, test_double_backward = make_op_tests(CASES)


def _qkv(*shape, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    return [minidl.tensor(rng.standard_normal(shape).astype(dtype), requires_grad=True) for _ in range(3)]


def test_causal_outputs_ignore_later_positions():
    """Changing keys/values after position t leaves the outputs at positions <= t unchanged."""
    q, k, v = _qkv(2, 6, 4)
    out = sdpa(q, k, v, is_causal=True).detach().numpy()
    k2, v2 = k.detach().numpy().copy(), v.detach().numpy().copy()
    t = 3
    k2[:, t + 1:] += 5.0
    v2[:, t + 1:] -= 7.0
    out2 = sdpa(q, minidl.tensor(k2), minidl.tensor(v2), is_causal=True).detach().numpy()
    np.testing.assert_allclose(out2[:, :t + 1], out[:, :t + 1], rtol=1e-12)
    assert not np.allclose(out2[:, t + 1:], out[:, t + 1:])


def test_fully_masked_rows_give_zero_not_nan():
    q, k, v = _qkv(1, 2, 3)
    mask = np.array([[True, True], [False, False]])
    out = sdpa(q, k, v, attn_mask=mask)
    out.sum().backward()
    assert np.all(out.detach().numpy()[0, 1] == 0)
    assert np.isfinite(q.grad.numpy()).all() and np.all(q.grad.numpy()[0, 1] == 0)


def test_dropout_is_seeded_and_scaled():
    q, k, v = _qkv(2, 8, 4, dtype=np.float32)
    a = sdpa(q, k, v, dropout_p=0.5, generator=minidl.Generator(1))
    b = sdpa(q, k, v, dropout_p=0.5, generator=minidl.Generator(1))
    c = sdpa(q, k, v, dropout_p=0.5, generator=minidl.Generator(2))
    np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())
    assert not np.allclose(a.detach().numpy(), c.detach().numpy())
    assert a.dtype == np.float32
    # with v = 1 everywhere the output is the sum of the kept, rescaled weights: 1 on average
    ones = minidl.ones(2, 8, 4)
    mean = float(sdpa(q, k, ones, dropout_p=0.5, generator=minidl.Generator(0)).mean())
    assert 0.8 < mean < 1.2


def test_dropout_gradient():
    """Dropout is a fixed multiplier once drawn: the gradient with the same generator seed checks out."""
    q, k, v = _qkv(1, 3, 2)
    minidl.testing.gradcheck(lambda q, k, v: sdpa(q, k, v, dropout_p=0.3, generator=minidl.Generator(5)), [q, k, v])
    minidl.testing.gradgradcheck(lambda q, k, v: sdpa(q, k, v, dropout_p=0.3, generator=minidl.Generator(5)),
                                 [q, k, v])


def test_errors_name_the_op_and_shapes():
    q, k, v = _qkv(2, 3, 4)
    with pytest.raises(minidl.ShapeError, match="scaled_dot_product_attention"):
        sdpa(q, k[..., :3], v)
    with pytest.raises(minidl.ShapeError, match="attn_mask"):
        sdpa(q, k, v, attn_mask=np.ones((4, 3), dtype=bool))
    with pytest.raises(ValueError, match="dropout_p"):
        sdpa(q, k, v, dropout_p=1.0)


def test_matches_torch():
    torch = pytest.importorskip("torch")
    q, k, v = (x.detach().numpy() for x in _qkv(2, 2, 5, 4))
    mask = np.random.default_rng(1).random((5, 5)) > 0.3
    mask[:, 0] = True
    for kwargs in ({}, {"is_causal": True}, {"attn_mask": mask}):
        want = torch.nn.functional.scaled_dot_product_attention(
            *(torch.from_numpy(x) for x in (q, k, v)),
            **{n: torch.from_numpy(a) if isinstance(a, np.ndarray) else a for n, a in kwargs.items()})
        got = sdpa(minidl.tensor(q), minidl.tensor(k), minidl.tensor(v), **kwargs)
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-10, atol=1e-12)
