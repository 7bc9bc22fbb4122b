"""MultiheadAttention, the transformer (encoder, decoder, nn.Transformer), positional embeddings and GPT:
the harness (forward vs NumPy float64, gradcheck, double backward), PyTorch's names/masks/layouts with
torch weights (outputs and gradients), causality, generation, and the W3 (LSTM LM) and W4 (char GPT)
workloads training with falling loss."""

import copy

import numpy as np
import pytest

import minidl
import minidl.nn as nn
from minidl import optim
from minidl.models import GPT, GPTConfig
from minidl.testing import OpCase, make_op_tests, randn


# --------------------------------------------------------------------------- NumPy reference
def np_mha(xq, xk, xv, params, H, mask=None, causal=False):
    """Batch-first multi-head attention from the equations; mask additive, broadcasting to (N, H, L, S)."""
    E = params["out_proj.weight"].shape[0]
    if "in_proj_weight" in params:
        wq, wk, wv = np.split(params["in_proj_weight"], 3)
    else:
        wq, wk, wv = params["q_proj_weight"], params["k_proj_weight"], params["v_proj_weight"]
    bq, bk, bv = np.split(params.get("in_proj_bias", np.zeros(3 * E)), 3)
    N, L, S, d = xq.shape[0], xq.shape[1], xk.shape[1], E // H
    q = (xq @ wq.T + bq).reshape(N, L, H, d).transpose(0, 2, 1, 3)
    k = (xk @ wk.T + bk).reshape(N, S, H, d).transpose(0, 2, 1, 3)
    v = (xv @ wv.T + bv).reshape(N, S, H, d).transpose(0, 2, 1, 3)
    s = q @ k.transpose(0, 1, 3, 2) / np.sqrt(d)
    if mask is not None:
        s = s + mask
    if causal:
        s = np.where(np.tril(np.ones((L, S), dtype=bool)), s, -np.inf)
    p = np.exp(s - s.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    out = (p @ v).transpose(0, 2, 1, 3).reshape(N, L, E)
    return out @ params["out_proj.weight"].T + params.get("out_proj.bias", 0.0), p


def functional_call(module, names, tensors, *args, **kwargs):
    """Run ``module`` with ``tensors`` in place of its (dotted-name) parameters, so gradients reach them."""
    slots = []
    for name in names:
        owner, _, leaf = name.rpartition(".")
        slots.append((module.get_submodule(owner) if owner else module, leaf))
    saved = [m._parameters[leaf] for m, leaf in slots]
    for (m, leaf), t in zip(slots, tensors, strict=True):
        m._parameters[leaf] = t
    try:
        return module(*args, **kwargs)
    finally:
        for (m, leaf), t in zip(slots, saved, strict=True):
            m._parameters[leaf] = t


def mha_case(name, E=4, H=2, N=2, L=3, S=3, kdim=None, vdim=None, need_weights=True, average=True,
             attn_mask=None, key_padding_mask=None, causal=False, batch_first=True, self_attention=False,
             directional=True):
    mha = nn.MultiheadAttention(E, H, kdim=kdim, vdim=vdim, batch_first=batch_first)
    names = [n for n, _ in mha.named_parameters()]
    shapes = [p.shape for _, p in mha.named_parameters()]
    additive = 0.0
    if attn_mask is not None:
        additive = additive + (np.where(attn_mask, -np.inf, 0.0) if attn_mask.dtype == bool else attn_mask)
    if key_padding_mask is not None:
        additive = additive + np.where(key_padding_mask, -np.inf, 0.0)[:, None, None, :]
    layout = (lambda x: x) if batch_first else (lambda x: x.swapaxes(0, 1))

    def op(q, k, v, *ps):
        if self_attention:
            k = v = q
        out, w = functional_call(mha, names, ps, q, k, v, key_padding_mask=key_padding_mask,
                                 need_weights=need_weights, attn_mask=attn_mask, average_attn_weights=average,
                                 is_causal=causal)
        return (out, w) if need_weights else out

    def ref(q, k, v, *ps):
        if self_attention:
            k = v = q
        out, p = np_mha(layout(q), layout(k), layout(v), dict(zip(names, ps, strict=True)), H,
                        None if np.isscalar(additive) else additive, causal)
        if not need_weights:
            return layout(out)
        return layout(out), (p.mean(1) if average else p)

    shape = (lambda T, D: (N, T, D)) if batch_first else (lambda T, D: (T, N, D))
    inputs = [randn(*shape(L, E)), randn(*shape(S, kdim or E)), randn(*shape(S, vdim or E))]
    return OpCase(name, op, ref, inputs + [randn(*s, scale=0.5) for s in shapes], directional=directional)


def np_decoder_layer(x, m, state, H, norm_first, tgt_mask=None, memory_mask=None):
    """One TransformerDecoderLayer (ReLU, no dropout) from its formula, batch first; masks additive."""
    def sub(prefix):
        return {k.removeprefix(prefix): v for k, v in state.items() if k.startswith(prefix)}

    def sa(z):
        return np_mha(z, z, z, sub("self_attn."), H, tgt_mask)[0]

    def ca(z):
        return np_mha(z, m, m, sub("multihead_attn."), H, memory_mask)[0]

    def ff(z):
        return np.maximum(z @ state["linear1.weight"].T + state["linear1.bias"], 0) @ state["linear2.weight"].T \
            + state["linear2.bias"]

    def norm(i, z):
        return _np_layer_norm(z, state[f"norm{i}.weight"], state[f"norm{i}.bias"])

    if norm_first:
        x = x + sa(norm(1, x))
        x = x + ca(norm(2, x))
        return x + ff(norm(3, x))
    x = norm(1, x + sa(x))
    x = norm(2, x + ca(x))
    return norm(3, x + ff(x))


def decoder_case(name, norm_first, E=4, H=2, N=2, T=3, S=4, dim_feedforward=6):
    """A TransformerDecoderLayer as one op of (tgt, memory, *parameters): a causal float tgt_mask
    (generate_square_subsequent_mask) and a boolean memory_key_padding_mask."""
    layer = nn.TransformerDecoderLayer(E, H, dim_feedforward, dropout=0.0, batch_first=True, norm_first=norm_first)
    names = [n for n, _ in layer.named_parameters()]
    shapes = [p.shape for _, p in layer.named_parameters()]
    tgt_mask = nn.Transformer.generate_square_subsequent_mask(T).numpy()
    padding = np.array([[False, False, True, True], [False, False, False, False]])
    memory_additive = np.where(padding, -np.inf, 0.0)[:, None, None, :]

    def op(x, m, *ps):
        return functional_call(layer, names, ps, x, m, tgt_mask=tgt_mask, memory_key_padding_mask=padding)

    def ref(x, m, *ps):
        return np_decoder_layer(x, m, dict(zip(names, ps, strict=True)), H, norm_first, tgt_mask, memory_additive)

    params = [randn(*s, scale=0.5) if len(s) > 1 else randn(*s, scale=0.3) for s in shapes]
    return OpCase(name, op, ref, [randn(N, T, E), randn(N, S, E)] + params, directional=True)


BOOL_ATTN = np.array([[False, True, False], [False, False, True], [True, False, False]])
PADDING = np.array([[False, False, True], [False, False, False]])

# Gradients are checked element by element in two cases and along one random direction per input in
# the others (two evaluations instead of 2 x size: keeps the double-backward checks fast).
CASES = [
    mha_case("mha_self", self_attention=True, directional=False),
    mha_case("mha_cross_time_first", L=2, S=3, batch_first=False),
    mha_case("mha_sdpa_path", need_weights=False),
    mha_case("mha_kdim_vdim", L=2, S=3, kdim=3, vdim=5),
    mha_case("mha_masks_per_head", attn_mask=BOOL_ATTN, key_padding_mask=PADDING, average=False, directional=False),
    mha_case("mha_causal_float_mask_sdpa", attn_mask=np.array([[0.0, -1.0, 0.5]] * 3), causal=True,
             need_weights=False),
    decoder_case("decoder_layer_post_norm", norm_first=False),
    decoder_case("decoder_layer_pre_norm", norm_first=True),
]

test_forward, test_backward, test_double_backward = make_op_tests(CASES)


# --------------------------------------------------------------------------- PyTorch names and outputs
def test_mha_parameters_and_init_are_pytorchs():
    mha = nn.MultiheadAttention(8, 2)
    assert [(n, p.shape) for n, p in mha.named_parameters()] == [
        ("in_proj_weight", (24, 8)), ("in_proj_bias", (24,)), ("out_proj.weight", (8, 8)), ("out_proj.bias", (8,))]
    assert np.all(mha.in_proj_bias.detach().numpy() == 0) and np.all(mha.out_proj.bias.detach().numpy() == 0)
    bound = np.sqrt(6 / (24 + 8))  # Xavier-uniform over the (3E, E) matrix
    w = mha.in_proj_weight.detach().numpy()
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.9 * bound
    names = [n for n, _ in nn.MultiheadAttention(8, 2, kdim=3, vdim=5, bias=False).named_parameters()]
    assert names == ["q_proj_weight", "k_proj_weight", "v_proj_weight", "out_proj.weight"]
    with pytest.raises(ValueError, match="multiple of num_heads"):
        nn.MultiheadAttention(6, 4)


@pytest.mark.filterwarnings("ignore:Support for mismatched key_padding_mask")
@pytest.mark.parametrize("batch_first", [False, True])
def test_mha_matches_torch(batch_first):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    ref = torch.nn.MultiheadAttention(8, 4, batch_first=batch_first).double()
    ours = nn.MultiheadAttention(8, 4, batch_first=batch_first, dtype="float64")
    ours.load_state_dict({k: v.detach().numpy() for k, v in ref.state_dict().items()})
    x = torch.randn(5, 3, 8, dtype=torch.float64)
    mem = torch.randn(6, 3, 8, dtype=torch.float64)
    if batch_first:
        x, mem = x.transpose(0, 1).contiguous(), mem.transpose(0, 1).contiguous()
    padding = torch.zeros(3, 6, dtype=torch.bool)
    padding[1, 4:] = True
    attn = torch.rand(5, 6, generator=torch.Generator().manual_seed(1)) < 0.3
    attn[:, 0] = False
    for kwargs in ({}, {"key_padding_mask": padding}, {"attn_mask": attn, "average_attn_weights": False},
                   {"attn_mask": attn.double() * -2.0, "key_padding_mask": padding}):
        want, want_w = ref(x, mem, mem, **kwargs)
        got, got_w = ours(*(minidl.tensor(t.numpy()) for t in (x, mem, mem)),
                          **{k: v.numpy() if hasattr(v, "numpy") else v for k, v in kwargs.items()})
        np.testing.assert_allclose(got.detach().numpy(), want.detach().numpy(), rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(got_w.detach().numpy(), want_w.detach().numpy(), rtol=1e-10, atol=1e-12)
        fast, none = ours(*(minidl.tensor(t.numpy()) for t in (x, mem, mem)), need_weights=False,
                          **{k: v.numpy() for k, v in kwargs.items() if k != "average_attn_weights"})
        assert none is None
        np.testing.assert_allclose(fast.detach().numpy(), want.detach().numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize(("norm_first", "activation"), [(False, "relu"), (True, "gelu")])
def test_encoder_matches_torch(norm_first, activation):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    layer = torch.nn.TransformerEncoderLayer(8, 2, 16, dropout=0.1, activation=activation, batch_first=True,
                                             norm_first=norm_first)
    ref = torch.nn.TransformerEncoder(layer, 2, norm=torch.nn.LayerNorm(8), enable_nested_tensor=False).double()
    ref.eval()
    ours = nn.TransformerEncoder(nn.TransformerEncoderLayer(8, 2, 16, dropout=0.1, activation=activation,
                                                            batch_first=True, norm_first=norm_first, dtype="float64"),
                                 2, norm=nn.LayerNorm(8, dtype="float64"))
    ours.eval()
    ours.load_state_dict({k: v.detach().numpy() for k, v in ref.state_dict().items()})
    x = torch.randn(3, 5, 8, dtype=torch.float64)
    mask = torch.nn.Transformer.generate_square_subsequent_mask(5, dtype=torch.float64)
    want = ref(x, mask=mask, is_causal=True).detach().numpy()
    got = ours(minidl.tensor(x.numpy()), mask=mask.numpy(), is_causal=True).detach().numpy()
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-11)


def _torch_state(module):
    return {k: v.detach().numpy() for k, v in module.state_dict().items()}


@pytest.mark.filterwarnings("ignore:enable_nested_tensor is True")
@pytest.mark.filterwarnings("ignore:Support for mismatched key_padding_mask")
@pytest.mark.parametrize(("batch_first", "norm_first", "activation", "mask_type"),
                         [(False, False, "relu", "array"), (True, True, "gelu", "tensor"),
                          (True, False, "gelu", "array")])
def test_transformer_matches_torch(batch_first, norm_first, activation, mask_type):
    """nn.Transformer (2 encoder + 2 decoder layers, final norms) with PyTorch's weights, every mask
    argument (causal float tgt_mask, boolean memory_mask, three key padding masks): the output, the
    gradients of src and tgt and of every parameter equal PyTorch's in float64."""
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    kwargs = {"dropout": 0.0, "activation": activation, "batch_first": batch_first, "norm_first": norm_first}
    ref = torch.nn.Transformer(8, 2, 2, 2, 16, **kwargs).double()
    ours = nn.Transformer(8, 2, 2, 2, 16, dtype="float64", **kwargs)
    assert [(n, tuple(p.shape)) for n, p in ours.named_parameters()] == \
        [(n, tuple(p.shape)) for n, p in ref.named_parameters()]
    ours.load_state_dict(_torch_state(ref))
    S, T, N = 5, 4, 3
    src = torch.randn(N, S, 8, dtype=torch.float64) if batch_first else torch.randn(S, N, 8, dtype=torch.float64)
    tgt = torch.randn(N, T, 8, dtype=torch.float64) if batch_first else torch.randn(T, N, 8, dtype=torch.float64)
    src.requires_grad_()
    tgt.requires_grad_()
    src_padding = torch.zeros(N, S, dtype=torch.bool)
    src_padding[1, 3:] = True
    tgt_padding = torch.zeros(N, T, dtype=torch.bool)
    tgt_padding[2, 3] = True
    memory_mask = torch.zeros(T, S, dtype=torch.bool)
    memory_mask[0, 1] = memory_mask[2, 4] = True
    masks = {"tgt_mask": torch.nn.Transformer.generate_square_subsequent_mask(T, dtype=torch.float64),
             "memory_mask": memory_mask, "src_key_padding_mask": src_padding,
             "tgt_key_padding_mask": tgt_padding, "memory_key_padding_mask": src_padding}
    want = ref(src, tgt, **masks)
    weights = torch.randn(want.shape, dtype=torch.float64)
    (want * weights).sum().backward()

    convert = (lambda m: m.numpy()) if mask_type == "array" else (lambda m: minidl.tensor(m.numpy()))
    x, y = (minidl.tensor(t.detach().numpy(), requires_grad=True) for t in (src, tgt))
    got = ours(x, y, **{k: convert(v) for k, v in masks.items()})
    (got * minidl.tensor(weights.numpy())).sum().backward()
    np.testing.assert_allclose(got.detach().numpy(), want.detach().numpy(), rtol=1e-9, atol=1e-11)
    np.testing.assert_allclose(x.grad.numpy(), src.grad.numpy(), rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(y.grad.numpy(), tgt.grad.numpy(), rtol=1e-8, atol=1e-10)
    for (name, p), tp in zip(ours.named_parameters(), ref.parameters(), strict=True):
        np.testing.assert_allclose(p.grad.numpy(), tp.grad.numpy(), rtol=1e-8, atol=1e-10, err_msg=name)


@pytest.mark.filterwarnings("ignore:Support for mismatched key_padding_mask")
def test_decoder_masks_per_head_and_unbatched_match_torch():
    """TransformerDecoder alone: a boolean per-head tgt_mask (N * nhead, T, T), a float memory_mask with
    finite values, memory_is_causal, and unbatched (T, E) input, against PyTorch."""
    torch = pytest.importorskip("torch")
    torch.manual_seed(1)
    layer = torch.nn.TransformerDecoderLayer(6, 3, 10, dropout=0.0)
    ref = torch.nn.TransformerDecoder(layer, 2, norm=torch.nn.LayerNorm(6)).double()
    ours = nn.TransformerDecoder(nn.TransformerDecoderLayer(6, 3, 10, dropout=0.0, dtype="float64"), 2,
                                 norm=nn.LayerNorm(6, dtype="float64"))
    ours.load_state_dict(_torch_state(ref))
    tgt, memory = torch.randn(4, 2, 6, dtype=torch.float64), torch.randn(4, 2, 6, dtype=torch.float64)
    per_head = torch.rand(2 * 3, 4, 4, generator=torch.Generator().manual_seed(2)) < 0.4
    per_head[:, :, 0] = False  # every query sees at least one key
    memory_mask = torch.randn(4, 4, dtype=torch.float64)
    want = ref(tgt, memory, tgt_mask=per_head, memory_mask=memory_mask)
    got = ours(minidl.tensor(tgt.numpy()), minidl.tensor(memory.numpy()), tgt_mask=per_head.numpy(),
               memory_mask=memory_mask.numpy())
    np.testing.assert_allclose(got.detach().numpy(), want.detach().numpy(), rtol=1e-9, atol=1e-11)
    causal = torch.nn.Transformer.generate_square_subsequent_mask(4, dtype=torch.float64)
    want = ref(tgt[:, 0], memory[:, 0], tgt_mask=causal, tgt_is_causal=True, memory_mask=causal,
               memory_is_causal=True)
    got = ours(minidl.tensor(tgt[:, 0].numpy()), minidl.tensor(memory[:, 0].numpy()), tgt_mask=causal.numpy(),
               tgt_is_causal=True, memory_mask=causal.numpy(), memory_is_causal=True)
    assert got.shape == (4, 6)
    np.testing.assert_allclose(got.detach().numpy(), want.detach().numpy(), rtol=1e-9, atol=1e-11)


def test_generate_square_subsequent_mask():
    mask = nn.Transformer.generate_square_subsequent_mask(4)
    assert mask.dtype == np.float32 and mask.shape == (4, 4)
    want = np.array([[0, -np.inf, -np.inf, -np.inf], [0, 0, -np.inf, -np.inf], [0, 0, 0, -np.inf], [0, 0, 0, 0]])
    np.testing.assert_array_equal(mask.numpy(), want)
    assert nn.Transformer.generate_square_subsequent_mask(2, dtype=minidl.float64).dtype == np.float64
    torch = pytest.importorskip("torch")
    np.testing.assert_array_equal(mask.numpy(), torch.nn.Transformer.generate_square_subsequent_mask(4).numpy())


def test_causal_mask_detection():
    """With is_causal=None the stacks detect generate_square_subsequent_mask (PyTorch's rule); a hint given
    is kept. Only a hint: the mask is applied either way, so the output does not depend on it."""
    from minidl.nn.transformer import _detect_is_causal_mask
    causal = nn.Transformer.generate_square_subsequent_mask(3)
    assert _detect_is_causal_mask(causal, None, 3) and _detect_is_causal_mask(causal.numpy(), None, 3)
    assert not _detect_is_causal_mask(causal, None, 4) and not _detect_is_causal_mask(None, None, 3)
    assert not _detect_is_causal_mask(np.triu(np.ones((3, 3), dtype=bool), 1), None, 3)  # boolean: not detected
    assert not _detect_is_causal_mask(causal, False, 3) and _detect_is_causal_mask(None, True, 3)


def test_transformer_init_train_eval_and_errors():
    model = nn.Transformer(8, 2, 1, 1, 16, dropout=0.5, generator=minidl.Generator(0))
    for name, p in model.named_parameters():
        w = p.detach().numpy()
        if p.ndim > 1:  # Xavier-uniform, PyTorch's Transformer._reset_parameters
            bound = np.sqrt(6 / (w.shape[0] + w.shape[1]))
            assert np.abs(w).max() <= bound and np.abs(w).max() > 0.5 * bound, name
        elif name.endswith("norm1.weight") or name == "encoder.norm.weight":
            np.testing.assert_array_equal(w, 1.0)
    src, tgt = minidl.randn(5, 2, 8), minidl.randn(3, 2, 8)
    model.eval()
    a, b = model(src, tgt).detach().numpy(), model(src, tgt).detach().numpy()
    np.testing.assert_array_equal(a, b)  # no dropout in evaluation
    model.train()
    assert not np.allclose(model(src, tgt).detach().numpy(), a)
    with pytest.raises(RuntimeError, match="batch number of src and tgt"):
        model(src, minidl.randn(3, 4, 8))
    with pytest.raises(RuntimeError, match="d_model"):
        model(src, minidl.randn(3, 2, 6))
    with pytest.raises(ValueError, match="activation"):
        nn.TransformerDecoderLayer(8, 2, activation="tanh")
    custom = nn.TransformerEncoder(nn.TransformerEncoderLayer(8, 2, 16), 1)
    assert nn.Transformer(8, 2, 1, 1, 16, custom_encoder=custom).encoder is custom


def _np_layer_norm(x, weight, bias, eps=1e-5):
    mu = x.mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(((x - mu) ** 2).mean(-1, keepdims=True) + eps) * weight + bias


@pytest.mark.parametrize("norm_first", [True, False])
def test_encoder_layer_is_its_composition(norm_first):
    """One layer against its formula in NumPy, with norm1 and norm2 given different random weights and biases
    (the default ones and zeros cannot tell the two norms apart, nor a skipped norm2 from a present one):
    pre-norm   y = h + FF(norm2(h)),   h = x + SA(norm1(x));
    post-norm  y = norm2(h + FF(h)),   h = norm1(x + SA(x));   FF(z) = linear2(relu(linear1(z)))."""
    layer = nn.TransformerEncoderLayer(6, 2, 10, dropout=0.0, batch_first=True, norm_first=norm_first,
                                       dtype="float64")
    rng = np.random.default_rng(3)
    state = {k: v.numpy() for k, v in layer.state_dict().items()}
    for name in ("norm1", "norm2"):
        state[f"{name}.weight"] = rng.uniform(0.5, 2.0, 6)
        state[f"{name}.bias"] = rng.standard_normal(6)
    state["self_attn.in_proj_bias"] = rng.standard_normal(18) * 0.1
    layer.load_state_dict(state)
    x = rng.standard_normal((2, 4, 6))
    got = layer(minidl.tensor(x)).detach().numpy()

    attn = {k.removeprefix("self_attn."): v for k, v in state.items() if k.startswith("self_attn.")}

    def sa(z):
        return np_mha(z, z, z, attn, 2)[0]

    def ff(z):
        return np.maximum(z @ state["linear1.weight"].T + state["linear1.bias"], 0) @ state["linear2.weight"].T \
            + state["linear2.bias"]

    def norm1(z):
        return _np_layer_norm(z, state["norm1.weight"], state["norm1.bias"])

    def norm2(z):
        return _np_layer_norm(z, state["norm2.weight"], state["norm2.bias"])

    if norm_first:
        h = x + sa(norm1(x))
        want = h + ff(norm2(h))
    else:
        h = norm1(x + sa(x))
        want = norm2(h + ff(h))
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


def test_encoder_layers_are_independent_deep_copies():
    """TransformerEncoder deep-copies its layer: same starting values, separate Parameters, same backend."""
    enc = nn.TransformerEncoder(nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0), 2)
    a, b = enc.layers[0].linear1.weight, enc.layers[1].linear1.weight
    assert a is not b and a.backend is b.backend
    np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())
    enc(minidl.randn(4, 2, 8)).sum().backward()
    assert a.grad is not None and b.grad is not None and not np.allclose(a.grad.numpy(), b.grad.numpy())


def test_deepcopy_of_a_model_keeps_the_backend():
    """Regression: copy.deepcopy used to copy the backend object too, and ops then refused to mix the
    copy's tensors with anyone else's ('inputs are on backends numpy and numpy')."""
    model = _small_gpt()
    clone = copy.deepcopy(model)
    idx = minidl.tensor(np.array([[1, 2, 3]]))
    assert clone.wte.weight.backend is model.wte.weight.backend and clone.wte.weight is not model.wte.weight
    assert clone.lm_head.weight is clone.wte.weight  # tying survives the copy
    np.testing.assert_array_equal(clone(idx).detach().numpy(), model(idx).detach().numpy())


# --------------------------------------------------------------------------- positional embeddings
def test_positional_embeddings():
    pe = nn.SinusoidalPositionalEmbedding(50, 6)
    x = minidl.zeros(2, 7, 6)
    table = pe(x).numpy()
    t, i = 5, 1  # pe[t, 2i] = sin(t / 10000^(2i/d)), pe[t, 2i+1] = cos(...)
    np.testing.assert_allclose(table[t, 2 * i], np.sin(t / 10000 ** (2 * i / 6)), rtol=1e-6)
    np.testing.assert_allclose(table[t, 2 * i + 1], np.cos(t / 10000 ** (2 * i / 6)), rtol=1e-6)
    assert table.shape == (7, 6) and list(pe.state_dict()) == []  # fixed, not saved
    assert nn.SinusoidalPositionalEmbedding(50, 6, batch_first=False)(minidl.zeros(7, 2, 6)).shape == (7, 1, 6)
    learned = nn.LearnedPositionalEmbedding(10, 4)
    x = minidl.zeros(3, 4, 4)
    (x + learned(x)).sum().backward()
    np.testing.assert_array_equal(learned.weight.grad.numpy()[:4], 3.0)  # three batch elements per position
    np.testing.assert_array_equal(learned.weight.grad.numpy()[4:], 0.0)
    with pytest.raises(ValueError, match="max_len"):
        learned(minidl.zeros(1, 11, 4))


# --------------------------------------------------------------------------- GPT
def _small_gpt(**kw):
    minidl.manual_seed(0)
    return GPT(GPTConfig(vocab_size=11, block_size=8, n_layer=2, n_head=2, n_embd=16, **kw))


def test_gpt_is_causal():
    """Changing tokens after position t leaves the logits at positions <= t unchanged."""
    model = _small_gpt()
    idx = np.random.default_rng(0).integers(0, 11, (2, 8))
    changed = idx.copy()
    t = 4
    changed[:, t + 1:] = (changed[:, t + 1:] + 3) % 11
    a = model(minidl.tensor(idx)).detach().numpy()
    b = model(minidl.tensor(changed)).detach().numpy()
    np.testing.assert_allclose(b[:, :t + 1], a[:, :t + 1], rtol=1e-5, atol=1e-6)
    assert not np.allclose(b[:, t + 1:], a[:, t + 1:])


def test_gpt_weight_tying_and_loss():
    tied, untied = _small_gpt(), _small_gpt(tie_weights=False)
    assert tied.lm_head.weight is tied.wte.weight and "lm_head.weight" not in dict(tied.named_parameters())
    assert untied.num_parameters() - tied.num_parameters() == 11 * 16  # the shared matrix is counted once
    no_bias = _small_gpt(bias=False)
    assert all(not n.endswith("bias") for n, _ in no_bias.named_parameters())
    tokens = np.random.default_rng(1).integers(0, 11, (2, 9))
    idx, targets = minidl.tensor(tokens[:, :-1]), minidl.tensor(tokens[:, 1:])
    logits, loss = tied(idx, targets)
    assert logits.shape == (2, 8, 11) and logits.dtype == np.float32
    assert abs(float(loss) - np.log(11)) < 0.1  # small init: close to uniform predictions
    loss.backward()
    assert tied.wte.weight.grad is not None and tied.wte.weight.grad.shape == (11, 16)


def test_gpt_generate():
    model = _small_gpt()
    model.eval()
    idx = minidl.tensor(np.array([[1, 2, 3]]))
    a = model.generate(idx, 10, generator=minidl.Generator(3))
    b = model.generate(idx, 10, generator=minidl.Generator(3))
    assert a.shape == (1, 13) and a.dtype == np.int64  # longer than block_size: the context is cropped
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    np.testing.assert_array_equal(a.numpy()[:, :3], idx.numpy())
    # top_k=1 is greedy decoding: always the arg-max token
    greedy = model.generate(idx, 4, top_k=1).numpy()
    context = idx
    for _ in range(4):
        nxt = model(context[:, -8:]).detach().numpy()[:, -1].argmax(-1)
        context = minidl.tensor(np.concatenate([context.numpy(), nxt[:, None]], axis=1))
    np.testing.assert_array_equal(greedy, context.numpy())
    with pytest.raises(ValueError, match="temperature"):
        model.generate(idx, 1, temperature=0.0)


# --------------------------------------------------------------------------- the workloads W3 and W4
def _train(model, opt, x, y, steps):
    losses = []
    for _ in range(steps):
        out = model(x)
        loss = minidl.nn.functional.cross_entropy(out.reshape(-1, out.shape[-1]), y.reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss))
    return losses


def _tokens(batch, seed=0):
    tokens = np.random.default_rng(seed).integers(0, 65, (batch, 65))
    return minidl.tensor(tokens[:, :-1]), minidl.tensor(tokens[:, 1:])


class LSTMLM(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb, self.lstm, self.head = nn.Embedding(65, 128), nn.LSTM(128, 256, batch_first=True), nn.Linear(256, 65)

    def forward(self, idx):
        return self.head(self.lstm(self.emb(idx))[0])


@pytest.mark.slow
def test_w3_lstm_language_model_trains():
    minidl.manual_seed(0)
    model = LSTMLM()
    x, y = _tokens(32)
    losses = _train(model, optim.Adam(model.parameters(), lr=3e-3), x, y, 3)
    assert losses[-1] < losses[0] - 0.02, losses


@pytest.mark.slow
def test_w4_char_gpt_trains():
    minidl.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=65, block_size=64, n_layer=2, n_head=4, n_embd=128, dropout=0.0))
    x, y = _tokens(16)
    losses = _train(model, optim.AdamW(model.parameters(), lr=3e-3), x, y, 3)
    assert losses[-1] < losses[0] - 0.05, losses
