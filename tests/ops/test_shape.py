"""Shape, indexing and matmul ops through the shared harness."""

import numpy as np
import pytest

import minidl
from minidl.ops.matmul import linear
from minidl.testing import OpCase, fixed, integers, make_op_tests, randn

IDX = np.array([2, 0, 2, 1])  # a repeated index: its gradient must accumulate

CASES = [
    OpCase("reshape", lambda x: x.reshape(3, -1), lambda x: x.reshape(3, -1), [randn(2, 3, 2)]),
    OpCase("view_tuple", lambda x: x.view((6,)), lambda x: x.reshape(6), [randn(2, 3)]),
    OpCase("T_reverses_all", lambda x: x.T, lambda x: x.T, [randn(2, 3, 4)]),
    OpCase("transpose_pair", lambda x: x.transpose(0, 2), lambda x: x.swapaxes(0, 2), [randn(2, 3, 4)]),
    OpCase("permute", lambda x: x.permute(2, 0, 1), lambda x: x.transpose(2, 0, 1), [randn(2, 3, 4)]),
    OpCase("T", lambda x: x.T, lambda x: x.T, [randn(2, 3)]),
    OpCase("swapaxes", lambda x: x.swapaxes(-1, -2), lambda x: x.swapaxes(-1, -2), [randn(2, 3, 4)]),
    OpCase("broadcast_to", lambda x: x.broadcast_to((2, 3, 4)), lambda x: np.broadcast_to(x, (2, 3, 4)),
           [randn(3, 1)]),
    OpCase("expand", lambda x: x.expand(2, -1, 4), lambda x: np.broadcast_to(x, (2, 3, 4)), [randn(3, 1)]),
    OpCase("squeeze", lambda x: x.squeeze(), np.squeeze, [randn(1, 3, 1)]),
    OpCase("squeeze_axis", lambda x: x.squeeze(0), lambda x: x.squeeze(0), [randn(1, 3, 1)]),
    OpCase("unsqueeze", lambda x: x.unsqueeze(-1), lambda x: x[..., None], [randn(2, 3)]),
    OpCase("flatten", lambda x: x.flatten(1), lambda x: x.reshape(2, -1), [randn(2, 3, 4)]),
    OpCase("cat", lambda a, b: minidl.cat([a, b], 1), lambda a, b: np.concatenate([a, b], 1),
           [randn(2, 3), randn(2, 1)]),
    OpCase("stack", lambda a, b: minidl.stack([a, b], 1), lambda a, b: np.stack([a, b], 1), [randn(2, 3), randn(2, 3)]),
    OpCase("split", lambda x: x.split(2, 1), lambda x: tuple(np.split(x, [2], 1)), [randn(3, 3)]),
    OpCase("split_sizes", lambda x: minidl.split(x, [1, 3], 0), lambda x: tuple(np.split(x, [1], 0)), [randn(4, 2)]),
    OpCase("chunk_partial_use", lambda x: x.chunk(3, 0)[1] * 2, lambda x: np.split(x, 3, 0)[1] * 2, [randn(6, 2)]),
    OpCase("getitem_basic", lambda x: x[1:, ::2, None], lambda x: x[1:, ::2, None], [randn(3, 4)]),
    OpCase("getitem_int", lambda x: x[1, -1], lambda x: x[1, -1], [randn(3, 4)]),
    OpCase("getitem_advanced_repeat", lambda x: x[IDX], lambda x: x[IDX], [randn(3, 2)]),
    OpCase("getitem_mixed", lambda x: x[IDX, 1:], lambda x: x[IDX, 1:], [randn(3, 3)]),
    OpCase("getitem_bool", lambda x: x[x > 0], lambda x: x[x > 0], [fixed([[1.0, -2.0], [0.5, 3.0]])]),
    OpCase("getitem_tensor_index", lambda x, i: x[i], lambda x, i: x[i], [randn(5, 2), integers(7, high=5)]),
    OpCase("pad_numpy_style", lambda x: minidl.pad(x, ((1, 0), (2, 1))), lambda x: np.pad(x, ((1, 0), (2, 1))),
           [randn(2, 3)]),
    OpCase("pad_torch_style", lambda x: minidl.pad(x, (1, 2), value=0.5),
           lambda x: np.pad(x, ((0, 0), (1, 2)), constant_values=0.5), [randn(2, 3)]),
    OpCase("gather", lambda x, i: x.gather(1, i), lambda x, i: np.take_along_axis(x, i, 1),
           [randn(3, 4), fixed([[0, 0], [3, 1], [2, 2]])]),
    OpCase("take_along_axis0", lambda x, i: minidl.take_along_axis(x, i, 0), lambda x, i: np.take_along_axis(x, i, 0),
           [randn(3, 2), fixed([[0, 2], [0, 0]])]),
    OpCase("matmul_2d", lambda a, b: a @ b, np.matmul, [randn(3, 4), randn(4, 2)]),
    OpCase("matmul_batched_broadcast", lambda a, b: a @ b, np.matmul, [randn(2, 1, 3, 4), randn(3, 4, 2)]),
    OpCase("matmul_vec_mat", lambda a, b: a @ b, np.matmul, [randn(4), randn(2, 4, 3)]),
    OpCase("matmul_mat_vec", lambda a, b: minidl.matmul(a, b), np.matmul, [randn(3, 4), randn(4)]),
    OpCase("matmul_vec_vec", lambda a, b: a @ b, np.matmul, [randn(4), randn(4)]),
    # linear: y = x W^T + b as one op, 2-d, with leading axes folded, 1-d, and without bias
    OpCase("linear", linear, lambda x, w, b: x @ w.T + b, [randn(4, 3), randn(2, 3), randn(2)]),
    OpCase("linear_3d", linear, lambda x, w, b: x @ w.T + b, [randn(2, 3, 4), randn(5, 4), randn(5)]),
    OpCase("linear_1d_no_bias", linear, lambda x, w: x @ w.T, [randn(3), randn(2, 3)]),
    OpCase("einsum_bmm", lambda a, b: minidl.einsum("bij,bjk->bik", a, b), lambda a, b: np.einsum("bij,bjk->bik", a, b),
           [randn(2, 3, 4), randn(2, 4, 2)]),
    OpCase("einsum_reduce", lambda a: minidl.einsum("ij->j", a), lambda a: np.einsum("ij->j", a), [randn(3, 4)]),
    OpCase("einsum_outer", lambda a, b: minidl.einsum("i,j->ij", a, b), np.outer, [randn(3), randn(2)]),
    OpCase("clone", lambda x: x.clone() * x, lambda x: x * x, [randn(3)]),
]

test_forward, test_backward, test_double_backward = make_op_tests(CASES)


def test_shape_errors_name_op_and_shapes():
    a, b = minidl.ones(2, 3), minidl.ones(4, 5)
    with pytest.raises(minidl.ShapeError, match=r"matmul.*\(2, 3\).*\(4, 5\)"):
        a @ b
    with pytest.raises(minidl.ShapeError, match=r"add.*\(2, 3\).*\(4, 5\)"):
        a + b
    with pytest.raises(minidl.ShapeError, match=r"reshape.*\(2, 3\).*6 elements"):
        a.reshape(4, 2)
    with pytest.raises(minidl.ShapeError, match=r"cat.*\(2, 3\).*\(4, 5\)"):
        minidl.cat([a, b], 0)
    with pytest.raises(ValueError):  # ShapeError is a ValueError
        a.reshape(5)


def test_setitem_refuses_tracked_tensor():
    x = minidl.ones(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="in-place"):
        x[0] = 2.0
    with minidl.no_grad():
        x[0] = 2.0
    assert x.tolist() == [2.0, 1.0, 1.0]


def test_argmax_argmin_and_comparisons():
    x = minidl.tensor([[1.0, 5.0, 2.0], [7.0, 0.0, 3.0]])
    assert x.argmax(1).tolist() == [1, 0]
    assert x.argmin().item() == 4
    assert (x > 2).tolist() == [[False, True, False], [True, False, True]]
    assert (x == 5.0).requires_grad is False


def test_astype_gradient_comes_back_in_the_input_dtype():
    x = minidl.tensor([1.0, 2.0], dtype=np.float64, requires_grad=True)
    y = x.float()
    assert y.dtype == np.float32
    (y * y).sum().backward()
    assert x.grad.dtype == np.float64
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 4.0])


def test_linear_weight_gradient_has_the_weights_layout():
    """dL/dW arrives C-contiguous like W itself, so optimizer kernels update it without a copy."""
    x, w, b = minidl.randn(8, 5), minidl.randn(3, 5, requires_grad=True), minidl.randn(3, requires_grad=True)
    linear(x, w, b).sum().backward()
    assert w.grad.array.flags.c_contiguous and w.grad.shape == (3, 5)
    np.testing.assert_allclose(w.grad.numpy(), np.ones((8, 3)).T @ x.numpy(), rtol=1e-5)
    np.testing.assert_allclose(b.grad.numpy(), np.full(3, 8.0))


def test_linear_rejects_mismatched_shapes():
    with pytest.raises(minidl.ShapeError, match=r"linear: got shapes \(4, 3\) and \(2, 5\)"):
        linear(minidl.zeros(4, 3), minidl.zeros(2, 5))
    with pytest.raises(minidl.ShapeError, match=r"linear: got shapes \(4, 3\) and \(2, 3\) and \(3,\)"):
        linear(minidl.zeros(4, 3), minidl.zeros(2, 3), minidl.zeros(3))
