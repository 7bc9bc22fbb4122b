"""The Tensor speaks PyTorch: short PyTorch-style snippets, each against hand-computed values and,
when PyTorch is installed, against PyTorch itself (``import minidl as torch`` is the promise)."""

from __future__ import annotations

import numpy as np
import pytest

import minidl
import minidl.nn as nn

try:
    import torch
except ImportError:  # the comparisons with PyTorch run where it is installed (CI installs it)
    torch = None

needs_torch = pytest.mark.skipif(torch is None, reason="PyTorch is not installed")

X = np.array([[1.0, 5.0, 3.0], [4.0, 2.0, 6.0]], dtype=np.float32)


def t(a=X, **kw):
    return minidl.tensor(a, **kw)


# ----------------------------------------------------------------------------- shapes and sizes
def test_size_is_a_method_and_numel_the_count():
    x = t()
    assert x.size() == (2, 3) and x.size(0) == 2 and x.size(-1) == 3
    assert x.numel() == 6 and x.nelement() == 6 and x.dim() == 2
    assert repr(x.size()) == "minidl.Size([2, 3])" and x.shape.numel() == 6
    with pytest.raises(IndexError, match="size: dim 2 is out of range"):
        x.size(2)


def test_transpose_swaps_two_dims_even_on_2d():
    x = t()
    assert x.transpose(0, 1).tolist() == X.T.tolist()
    assert minidl.transpose(x, 0, 1).shape == (3, 2)
    y = minidl.zeros(2, 3, 4)
    assert y.transpose(0, 2).shape == (4, 3, 2) and y.transpose(-1, -2).shape == (2, 4, 3)
    assert y.permute(2, 0, 1).shape == (4, 2, 3)
    assert x.t().tolist() == X.T.tolist() and x.T.tolist() == X.T.tolist() and y.mT.shape == (2, 4, 3)
    with pytest.raises(TypeError):
        y.transpose(2, 0, 1)  # three dims is a permute
    with pytest.raises(Exception, match="t: expects a tensor with at most 2 dimensions"):
        y.t()


def test_view_as_narrow_contiguous_repeat_unbind():
    x = minidl.arange(6)
    assert x.view_as(minidl.zeros(2, 3)).shape == (2, 3) and x.reshape_as(minidl.zeros(3, 2)).shape == (3, 2)
    assert x.narrow(0, 1, 3).tolist() == [1, 2, 3]
    assert x.contiguous() is x
    assert minidl.tensor([1, 2]).repeat(2, 2).tolist() == [[1, 2, 1, 2], [1, 2, 1, 2]]  # PyTorch's repeat = tile
    assert minidl.tensor([1, 2]).repeat_interleave(2).tolist() == [1, 1, 2, 2]
    a, b = t().unbind(0)
    assert a.tolist() == X[0].tolist() and b.tolist() == X[1].tolist()
    assert t().unflatten(1, (3, 1)).shape == (2, 3, 1)


def test_repeat_gradient_sums_over_the_copies():
    x = minidl.tensor([1.0, 2.0], requires_grad=True)
    (x.repeat(3, 2) * minidl.arange(12, dtype=minidl.float32).reshape(3, 4)).sum().backward()
    w = np.arange(12).reshape(3, 4)
    assert x.grad.tolist() == [float(w[:, 0::2].sum()), float(w[:, 1::2].sum())]


# ----------------------------------------------------------------------------- reductions
def test_max_min_over_a_dim_return_values_and_indices():
    x = t()
    values, indices = minidl.max(x, 1)
    assert values.tolist() == [5.0, 6.0] and indices.tolist() == [1, 2]
    assert x.max(1)[1].tolist() == [1, 2] and x.max(dim=0).values.tolist() == [4.0, 5.0, 6.0]
    assert x.min(1).indices.tolist() == [0, 1]
    assert x.max(1, keepdim=True).values.shape == (2, 1)
    assert float(x.max()) == 6.0 and float(minidl.min(x)) == 1.0
    assert minidl.max(x, minidl.full((2, 3), 3.0)).tolist() == [[3, 5, 3], [4, 3, 6]]
    assert x.amax(dim=(0, 1)).item() == 6.0


def test_max_over_a_dim_sends_the_gradient_to_the_index():
    x = minidl.tensor([[1.0, 3.0, 3.0]], requires_grad=True)
    x.max(1).values.sum().backward()
    assert x.grad.tolist() == [[0.0, 1.0, 0.0]]  # ties: the returned index gets it


def test_argmax_dim_keepdim_and_sort_topk_median():
    x = t()
    assert x.argmax(dim=1).tolist() == [1, 2] and x.argmax(dim=1, keepdim=True).shape == (2, 1)
    assert int(x.argmax()) == 5
    values, indices = x.sort(dim=1, descending=True)
    assert values.tolist() == [[5, 3, 1], [6, 4, 2]] and indices.tolist() == [[1, 2, 0], [2, 0, 1]]
    assert x.topk(2).indices.tolist() == [[1, 2], [2, 0]] and x.topk(1, largest=False).values.tolist() == [[1], [2]]
    assert minidl.tensor([3.0, 1.0, 4.0, 2.0]).median().item() == 2.0  # the lower middle value, as PyTorch
    assert x.median(dim=1).values.tolist() == [3.0, 4.0] and x.median(dim=1).indices.tolist() == [2, 0]
    assert x.argsort(dim=1).tolist() == [[0, 2, 1], [1, 0, 2]]


def test_var_std_are_unbiased_by_default():
    x = minidl.tensor([1.0, 2.0, 3.0, 4.0])
    assert x.var().item() == pytest.approx(np.var([1, 2, 3, 4], ddof=1))
    assert x.std(unbiased=False).item() == pytest.approx(np.std([1, 2, 3, 4]))
    assert x.var(correction=0).item() == pytest.approx(1.25)


def test_reductions_take_dim_keepdim_and_the_numpy_aliases():
    x = t()
    assert x.sum(dim=1, keepdim=True).shape == (2, 1) and x.sum(1).tolist() == [9.0, 12.0]
    assert x.mean(axis=0).tolist() == [2.5, 3.5, 4.5]
    assert x.sum(dim=(0, 1)).item() == 21.0
    assert x.prod(1).tolist() == [15.0, 48.0]
    assert (x > 2).all().item() is False and (x > 0).all().item() is True and (x > 5).any(dim=1).tolist() == [
        False, True]


# ----------------------------------------------------------------------------- .data, dtypes, promotion
def test_data_is_a_detached_tensor_sharing_memory():
    p = nn.Parameter(minidl.ones(3))
    d = p.data
    assert isinstance(d, minidl.Tensor) and not d.requires_grad
    d.add_(1.0)  # in place through .data reaches p (the classic manual SGD step)
    assert p.tolist() == [2.0, 2.0, 2.0]
    values, indices = minidl.max(t().data, 1)
    assert indices.tolist() == [1, 2]
    p.data = minidl.zeros(3)
    assert p.tolist() == [0.0, 0.0, 0.0] and p.requires_grad
    assert isinstance(p.array, np.ndarray)


def test_dtype_names_and_casts():
    x = t()
    assert minidl.float is minidl.float32 and minidl.long is minidl.int64 and minidl.double is minidl.float64
    assert minidl.half is minidl.float16
    assert x.to(minidl.float64).dtype == minidl.float64 and x.type(minidl.long).dtype == minidl.int64
    assert x.type() == "minidl.FloatTensor" and x.long().type() == "minidl.LongTensor"
    assert x.double().dtype == np.float64 and x.half().dtype == np.float16 and x.int().dtype == np.int32
    assert x.to(minidl.zeros(1, dtype=minidl.float64)).dtype == minidl.float64


def test_promotion_keeps_float32_with_integer_tensors_and_python_scalars():
    x = minidl.ones(3)
    n = minidl.tensor([1, 2, 3])
    assert (x ** n).dtype == minidl.float32 and (x * n).dtype == minidl.float32 and (n + x).dtype == minidl.float32
    assert (x * 2.5).dtype == minidl.float32 and (n * 2.5).dtype == minidl.float32 and (n * 2).dtype == minidl.int64
    assert (x + minidl.ones(3, dtype=minidl.float64)).dtype == minidl.float64  # two float tensors: the wider one
    assert (x + minidl.tensor(1.0, dtype=minidl.float64)).dtype == minidl.float32  # a 0-d tensor does not widen


def test_float64_into_a_float32_layer_raises_naming_both():
    layer = nn.Linear(3, 2)
    with pytest.raises(Exception, match="float64"):
        layer(minidl.ones(4, 3, dtype=minidl.float64))


# ----------------------------------------------------------------------------- methods named like PyTorch's
def test_arithmetic_and_comparison_methods():
    x, y = t(), minidl.full((2, 3), 2.0)
    assert x.eq(y).tolist() == (X == 2).tolist() and x.ge(3).tolist() == (X >= 3).tolist()
    assert x.pow(2).tolist() == (X ** 2).tolist() and x.div(y).tolist() == (X / 2).tolist()
    assert x.add(y, alpha=2).tolist() == (X + 4).tolist() and x.sub(1).tolist() == (X - 1).tolist()
    assert x.div(y, rounding_mode="floor").tolist() == np.floor(X / 2).tolist()
    assert (x // 2).tolist() == (X // 2).tolist() and (x % 2).tolist() == (X % 2).tolist()
    assert x.mm(minidl.ones(3, 1)).tolist() == [[9.0], [12.0]]
    assert minidl.ones(2, 3, 4).bmm(minidl.ones(2, 4, 5)).shape == (2, 3, 5)
    assert ((x > 2) & (x < 6)).tolist() == ((X > 2) & (X < 6)).tolist()
    assert x.masked_fill(x > 4, 0.0).tolist() == np.where(X > 4, 0, X).tolist()
    assert x.equal(t()) and not x.equal(y)
    assert x.eq(t()).sum().item() == 6


def test_new_tensors_and_in_place_fills():
    x = t()
    z = x.new_zeros(2, 2)
    assert z.dtype == x.dtype and z.tolist() == [[0, 0], [0, 0]] and x.new_ones((3,)).tolist() == [1, 1, 1]
    assert x.new_full((2,), 7).tolist() == [7.0, 7.0] and x.new_tensor([1, 2]).dtype == x.dtype
    y = minidl.zeros(3)
    assert y.fill_(2.0) is y and y.tolist() == [2.0, 2.0, 2.0]
    y.zero_()
    assert y.tolist() == [0.0, 0.0, 0.0]
    y.copy_(minidl.tensor([1.0, 2.0, 3.0]))
    assert y.tolist() == [1.0, 2.0, 3.0]
    y.mul_(2).add_(1).clamp_(max=6.0).sub_(1).div_(2)
    assert y.tolist() == [1.0, 2.0, 2.5]
    minidl.manual_seed(0)
    w = minidl.empty(1000).normal_(0.0, 2.0)
    assert abs(w.std().item() - 2.0) < 0.15
    u = minidl.empty(1000).uniform_(-1, 1)
    assert -1 <= u.min().item() and u.max().item() < 1


def test_in_place_operators_update_the_same_tensor():
    p = nn.Parameter(minidl.ones(2))
    alias = p
    with minidl.no_grad():
        p -= 0.5 * minidl.ones(2)
    assert alias is p and p.tolist() == [0.5, 0.5]


def test_index_format_and_scalars():
    classes = ["cat", "dog", "bird"]
    pred = minidl.tensor([0.1, 0.7, 0.2]).argmax()
    assert classes[pred] == "dog"
    assert f"{minidl.tensor(0.123456):+.2f}" == "+0.12"
    assert f"{minidl.tensor(3):d}" == "3"
    with pytest.raises(TypeError, match="integer tensors of a single element"):
        classes[minidl.tensor(1.0)]


def test_randint_forms_tril_triu_multinomial():
    assert minidl.randint(5, (3, 4)).shape == (3, 4)
    r = minidl.randint(2, 5, (1000,))
    assert r.min().item() >= 2 and r.max().item() <= 4
    m = minidl.arange(1, 10, dtype=minidl.float32).reshape(3, 3)
    assert m.tril().tolist() == np.tril(np.arange(1, 10).reshape(3, 3)).tolist()
    assert minidl.triu(m, 1).tolist() == np.triu(np.arange(1, 10).reshape(3, 3), 1).tolist()
    minidl.manual_seed(0)
    draws = minidl.multinomial(minidl.tensor([0.0, 1.0, 3.0]), 4000, replacement=True)
    counts = np.bincount(draws.numpy(), minlength=3)
    assert counts[0] == 0 and 0.7 < counts[2] / 4000 < 0.8
    assert sorted(minidl.multinomial(minidl.tensor([1.0, 1.0, 1.0]), 3).tolist()) == [0, 1, 2]


def test_tril_gradient_is_masked():
    x = minidl.ones(3, 3, requires_grad=True)
    x.tril().sum().backward()
    assert x.grad.tolist() == np.tril(np.ones((3, 3))).tolist()


# ----------------------------------------------------------------------------- devices
def test_devices_map_onto_backends():
    x = minidl.ones(2)
    assert x.device == minidl.device("cpu") and x.device == "cpu" and str(x.device) == "cpu"
    assert x.to("cpu") is x and x.cpu() is x
    assert minidl.device("cuda:0").index == 0 and minidl.device("cuda", 1).index == 1
    assert repr(minidl.device("cuda:0")) == "device(type='cuda', index=0)"
    assert minidl.zeros(2, device="cpu").device.type == "cpu"
    gpu_here = any(minidl.get_backend(n).is_gpu for n in minidl.available_backends())
    assert minidl.cuda.is_available() == gpu_here and minidl.accelerator.is_available() == gpu_here
    dev = minidl.device("cuda" if minidl.cuda.is_available() else "cpu")
    assert minidl.ones(2).to(dev).device.type == dev.type
    with pytest.raises(ValueError, match="device: expected 'cpu', 'cuda' or 'cuda:N'"):
        minidl.device("tpu")


def test_cuda_without_a_gpu_says_why():
    if minidl.cuda.is_available():
        pytest.skip("a GPU is available here")
    with pytest.raises(minidl.BackendUnavailableError, match="no GPU backend can run here"):
        minidl.ones(2).cuda()
    assert minidl.accelerator.current_accelerator() is None and minidl.cuda.device_count() == 0


def test_module_to_device_and_dtype():
    model = nn.Linear(3, 2)
    assert model.to("cpu") is model and model.weight.device.type == "cpu"
    model.to(minidl.float64)
    assert model.weight.dtype == minidl.float64


# ----------------------------------------------------------------------------- in-place guard
def test_in_place_on_a_leaf_that_requires_grad_is_refused():
    w = minidl.ones(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf tensor that requires grad"):
        w.add_(1)
    with minidl.no_grad():
        w.add_(1)
    assert w.tolist() == [2.0, 2.0, 2.0]


def test_backward_refuses_a_saved_tensor_modified_in_place():
    w = minidl.ones(3, requires_grad=True)
    y = (w * w).sum()
    with minidl.no_grad():
        w.mul_(2)  # changes the value the product saved for backward
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.backward()


# ----------------------------------------------------------------------------- against PyTorch
@needs_torch
def test_the_same_snippets_in_pytorch_give_the_same_values():
    for lib in (minidl, torch):
        x = lib.tensor(X)
        values, indices = lib.max(x, 1)
        out = {
            "max": (values.tolist(), indices.tolist()),
            "transpose": x.transpose(0, 1).tolist(),
            "size": (x.size(0), tuple(x.size())),
            "sort": [v.tolist() for v in x.sort(dim=1, descending=True)],
            "topk": [v.tolist() for v in x.topk(2, dim=0)],
            "median": x.median(dim=1).values.tolist(),
            "var": round(float(x.var()), 5),
            "repeat": x[0].repeat(2, 2).tolist(),
            "pow_int": str((x ** lib.tensor([1, 2, 3])).dtype).split(".")[-1],
            "argmax": x.argmax(dim=1, keepdim=True).tolist(),
            "tril": x.tril(1).tolist(),
            "floordiv": (x // 2).tolist(),
            "remainder": (-x % 4).tolist(),
        }
        if lib is minidl:
            mine = out
    assert mine == out
