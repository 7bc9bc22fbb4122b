"""F.pad in every mode through the harness (forward against numpy.pad, gradients against finite differences,
double backward, every backend), its argument checks, the padding layers, and a PyTorch cross-check."""

import numpy as np
import pytest

import minidl
import minidl.nn as nn
import minidl.nn.functional as F
from minidl.testing import OpCase, make_op_tests, randn

NP_MODE = {"reflect": "reflect", "replicate": "edge", "circular": "wrap", "constant": "constant"}


def ref_pad(x, pad, mode="constant", value=0.0):
    """numpy.pad on PyTorch's flat tuple (last dim first). Negative entries crop: for circular before padding
    (PyTorch wraps what is left), for reflect and replicate after it (their index is measured in the input)."""
    pairs = [(0, 0)] * x.ndim
    for i in range(len(pad) // 2):
        pairs[x.ndim - 1 - i] = (pad[2 * i], pad[2 * i + 1])
    positive = [(max(a, 0), max(b, 0)) for a, b in pairs]
    kwargs = {"constant_values": value} if mode == "constant" else {}
    if mode == "circular":
        x = x[tuple(slice(max(-a, 0), n - max(-b, 0)) for n, (a, b) in zip(x.shape, pairs))]
        return np.pad(x, positive, mode="wrap")
    y = np.pad(x, positive, mode=NP_MODE[mode], **kwargs)
    crop = tuple(slice(max(-a, 0), y.shape[d] - max(-b, 0)) for d, (a, b) in enumerate(pairs))
    return y[crop]


def case(name, shape, pad, mode="constant", value=None):
    call = (lambda x: F.pad(x, pad, mode)) if value is None else (lambda x: F.pad(x, pad, mode, value))
    return OpCase(name, call, lambda x: ref_pad(x, pad, mode, 0.0 if value is None else value), [randn(*shape)])


CASES = [
    case("constant_last_two", (2, 3, 4), (1, 2, 0, 1), value=0.5),
    case("constant_negative_crops", (2, 3, 5), (-1, 2, 1, -2)),
    case("reflect_1d", (2, 3, 5), (2, 4), "reflect"),
    case("reflect_1d_unbatched", (3, 5), (1, 3), "reflect"),
    case("reflect_2d", (2, 2, 4, 5), (1, 2, 3, 0), "reflect"),
    case("reflect_3d", (1, 2, 3, 4, 3), (1, 2, 2, 1, 0, 2), "reflect"),
    case("reflect_negative", (1, 2, 4), (-1, 3), "reflect"),
    case("replicate_1d", (2, 3, 4), (3, 1), "replicate"),
    case("replicate_2d_wider_than_input", (2, 2, 3, 2), (4, 1, 2, 5), "replicate"),
    case("replicate_3d", (1, 2, 2, 3, 2), (1, 0, 2, 1, 1, 1), "replicate"),
    case("replicate_negative", (2, 2, 3, 4), (-2, 1, 2, -1), "replicate"),
    case("circular_1d", (2, 2, 4), (4, 2), "circular"),
    case("circular_2d", (1, 2, 3, 4), (1, 2, 3, 0), "circular"),
    case("circular_3d", (1, 1, 2, 3, 2), (2, 1, 1, 0, 2, 2), "circular"),
    case("circular_negative", (1, 2, 5), (-2, 3), "circular"),
]

test_forward, test_backward, test_double_backward = make_op_tests(CASES)


def test_gradient_folds_the_border_back():
    """dL/dx of a sum: each input element counts once, plus once for every border copy of it
    ([3, 2, 1, 2, 3, 4, 3], [1, 1, 1, 2, 3, 4, 4] and [3, 4, 1, 2, 3, 4, 1] for x = [1, 2, 3, 4])."""
    x = minidl.tensor([[[1.0, 2.0, 3.0, 4.0]]], requires_grad=True)
    for mode, counts in [("reflect", [1, 2, 3, 1]), ("replicate", [3, 1, 1, 2]), ("circular", [2, 1, 2, 2])]:
        x.grad = None
        F.pad(x, (2, 1), mode).sum().backward()
        np.testing.assert_array_equal(x.grad.numpy()[0, 0], counts, err_msg=mode)


@pytest.mark.parametrize(("call", "error", "message"), [
    (lambda x: F.pad(x, (1, 2, 3)), ValueError, "divisible by 2"),
    (lambda x: F.pad(x, (1,) * 8), ValueError, "two times"),
    (lambda x: F.pad(x, (-3, -3)), ValueError, "crops more"),
    (lambda x: F.pad(x, (3, 0), "reflect"), ValueError, "less than the size 3"),
    (lambda x: F.pad(x, (4, 0), "circular"), ValueError, "more than once"),
    (lambda x: F.pad(x, (1, 1), "reflect", 1.0), ValueError, "value"),
    (lambda x: F.pad(x, (1, 1), "symmetric"), ValueError, "mode must be one of"),
    (lambda x: F.pad(x[0, 0], (1, 1), "replicate"), NotImplementedError, "2-d or 3-d input"),
    (lambda x: F.pad(x, (1, 1, 1, 1, 1, 1), "replicate"), NotImplementedError, "padding size 6"),
])
def test_errors(call, error, message):
    with pytest.raises(error, match=message):
        call(minidl.zeros(1, 2, 3))


def test_layers():
    x = minidl.tensor(np.arange(6.0).reshape(1, 1, 2, 3))
    np.testing.assert_array_equal(nn.ZeroPad2d((1, 0, 0, 1))(x).numpy()[0, 0], [[0, 0, 1, 2], [0, 3, 4, 5],
                                                                                [0, 0, 0, 0]])
    np.testing.assert_array_equal(nn.ConstantPad2d(1, -1.0)(x).numpy()[0, 0, 0], [-1, -1, -1, -1, -1])
    np.testing.assert_array_equal(nn.ReflectionPad2d((2, 0, 1, 0))(x).numpy()[0, 0],
                                  [[5, 4, 3, 4, 5], [2, 1, 0, 1, 2], [5, 4, 3, 4, 5]])
    np.testing.assert_array_equal(nn.ReplicationPad1d((0, 2))(x[0]).numpy()[0], [[0, 1, 2, 2, 2], [3, 4, 5, 5, 5]])
    np.testing.assert_array_equal(nn.CircularPad1d(1)(x[0]).numpy()[0], [[2, 0, 1, 2, 0], [5, 3, 4, 5, 3]])
    assert nn.ConstantPad1d(2, 3.5)(x[0]).shape == (1, 2, 7)
    assert nn.ReplicationPad3d(1)(minidl.zeros(1, 2, 2, 2)).shape == (1, 4, 4, 4)
    assert nn.ZeroPad1d(1)(x[0]).shape == (1, 2, 5)
    assert repr(nn.ReflectionPad2d(1)) == "ReflectionPad2d((1, 1, 1, 1))"
    with pytest.raises(ValueError, match="4 ints"):
        nn.ReflectionPad2d((1, 2))


def test_against_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    calls = [  # (shape, pad, mode, torch layer or None)
        ((2, 3, 6), (2, 5), "reflect", None),
        ((2, 3, 4, 5), (1, 3, 2, 0), "reflect", None),
        ((2, 3, 4, 5), (-1, 3, 2, -2), "reflect", None),
        ((1, 2, 3, 4, 5), (1, 2, 2, 1, 0, 2), "reflect", None),
        ((2, 3, 4, 5), (6, 1, 0, 4), "replicate", None),
        ((2, 3, 4, 5), (-3, 2, 1, -1), "replicate", None),
        ((3, 4, 5), (2, 3), "circular", None),
        ((2, 3, 4, 5), (5, 1, 4, 2), "circular", None),
        ((2, 3, 4, 5), (-2, 3, 1, -1), "circular", None),
        ((2, 3, 4, 5), (1, -2, 0, 3), "constant", None),
        ((2, 3, 4, 5), (1, 2, 3, 0), "reflect", "ReflectionPad2d"),
        ((2, 3, 4), (3, 1), "replicate", "ReplicationPad1d"),
        ((2, 3, 4, 5), (1, 2, 3, 0), "constant", "ZeroPad2d"),
    ]
    for shape, pad, mode, layer in calls:
        x, g = rng.standard_normal(shape), None
        mx, tx = minidl.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
        if layer is None:
            my, ty = F.pad(mx, pad, mode), torch.nn.functional.pad(tx, pad, mode)
        else:
            my, ty = getattr(nn, layer)(pad)(mx), getattr(torch.nn, layer)(pad)(tx)
        np.testing.assert_array_equal(my.detach().numpy(), ty.detach().numpy(), err_msg=f"{shape} {pad} {mode}")
        g = rng.standard_normal(tuple(ty.shape))
        my.backward(minidl.tensor(g))
        ty.backward(torch.tensor(g))
        np.testing.assert_allclose(mx.grad.numpy(), tx.grad.numpy(), rtol=1e-13, atol=1e-13,
                                   err_msg=f"{shape} {pad} {mode}")
    # double backward: the gradient of <F.pad(x)**2, g> with respect to x, differentiated again
    x = rng.standard_normal((2, 2, 4, 5))
    g = rng.standard_normal((2, 2, 7, 6))
    mx, tx = minidl.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    (mgx,) = minidl.grad((F.pad(mx, (1, 0, 2, 1), "reflect") ** 2 * minidl.tensor(g)).sum(), [mx], create_graph=True)
    (tgx,) = torch.autograd.grad((torch.nn.functional.pad(tx, (1, 0, 2, 1), "reflect") ** 2 * torch.tensor(g)).sum(),
                                 [tx], create_graph=True)
    (mgx ** 2).sum().backward()
    (tgx ** 2).sum().backward()
    np.testing.assert_allclose(mx.grad.numpy(), tx.grad.numpy(), rtol=1e-12)
