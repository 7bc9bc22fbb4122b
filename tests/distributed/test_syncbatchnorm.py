"""nn.SyncBatchNorm in one process: the op's maths on every backend (its all-reduces are the identity at world
size 1), the layer outside a process group against torch.nn.SyncBatchNorm, and convert_sync_batchnorm.
Its statistics across ranks are tested over MPI in test_distributed.py (sync_bn)."""

import numpy as np
import pytest
import torch

import minidl
import minidl.nn as nn
from minidl.nn.syncbatchnorm import SyncBatchNormFunction
from minidl.testing import OpCase, make_op_tests, randn


def sync_bn(x, w, b):
    return SyncBatchNormFunction(1e-5, None, 1, True, True)(x, w, b)


def reference(x, w, b):
    axes = (0, *range(2, x.ndim))
    shape = (1, -1) + (1,) * (x.ndim - 2)
    mean, var = x.mean(axes, keepdims=True), x.var(axes, keepdims=True)
    return (x - mean) / np.sqrt(var + 1e-5) * w.reshape(shape) + b.reshape(shape)


CASES = [
    OpCase("sync_batch_norm_2d", sync_bn, reference, [randn(4, 3, 2, 3, scale=2.0), randn(3), randn(3)],
           double_backward=False, dtypes=(np.float32, np.float64)),
    OpCase("sync_batch_norm_1d", sync_bn, reference, [randn(5, 4), randn(4), randn(4)],
           double_backward=False, dtypes=(np.float32, np.float64)),
]
test_forward, test_backward, _ = make_op_tests(CASES)


def test_double_backward_is_refused_with_its_reason():
    x = minidl.randn(4, 3, requires_grad=True, dtype=minidl.float64)
    w, b = minidl.ones(3, requires_grad=True, dtype=minidl.float64), minidl.zeros(3, dtype=minidl.float64)
    y = sync_bn(x, w, b)
    with pytest.raises(RuntimeError, match="SyncBatchNorm: double backward"):
        minidl.grad((y * y).sum(), [x], create_graph=True)


def test_outside_a_process_group_it_is_torch_syncbatchnorm():
    """Not initialised (or world size 1): batch norm, as torch.nn.SyncBatchNorm, in train and eval mode."""
    x = np.random.default_rng(0).normal(size=(6, 3, 4)) * 2 + 1
    ours, theirs = nn.SyncBatchNorm(3, momentum=0.2).double(), torch.nn.SyncBatchNorm(3, momentum=0.2).double()
    for train in (True, False):
        ours.train(train)
        theirs.train(train)
        xt = torch.tensor(x, requires_grad=True)
        xm = minidl.tensor(x, requires_grad=True)
        yt, ym = theirs(xt), ours(xm)
        np.testing.assert_allclose(ym.array, yt.detach().numpy(), rtol=1e-12, atol=1e-12)
        (yt ** 3).sum().backward()
        (ym ** 3).sum().backward()
        np.testing.assert_allclose(xm.grad.array, xt.grad.numpy(), rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(ours.running_var.array, theirs.running_var.numpy(), rtol=1e-12)
    with pytest.raises(ValueError, match="SyncBatchNorm.*3 channels"):
        ours(minidl.zeros(2, 4))


def test_convert_sync_batchnorm_keeps_the_parameters_and_buffers():
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4, momentum=None),
                          nn.Sequential(nn.Linear(4, 2), nn.BatchNorm1d(2, eps=1e-3, affine=False)))
    model[1].eval()
    bn, inner = model[1], model[2][1]
    out = nn.SyncBatchNorm.convert_sync_batchnorm(model, process_group=None)
    assert out is model  # the root is kept when it is not a BatchNorm itself, as in PyTorch
    sync, sync_inner = out[1], out[2][1]
    assert isinstance(sync, nn.SyncBatchNorm) and isinstance(sync_inner, nn.SyncBatchNorm)
    assert sync.weight is bn.weight and sync.bias is bn.bias and sync.running_mean is bn.running_mean
    assert sync.num_batches_tracked is bn.num_batches_tracked and sync.momentum is None and not sync.training
    assert sync_inner.eps == 1e-3 and sync_inner.weight is None and sync_inner.running_var is inner.running_var
    assert list(out.state_dict()) == list(model.state_dict())
    single = nn.SyncBatchNorm.convert_sync_batchnorm(nn.BatchNorm1d(3))
    assert isinstance(single, nn.SyncBatchNorm)
    torch_names = list(torch.nn.SyncBatchNorm.convert_sync_batchnorm(torch.nn.Sequential(
        torch.nn.Conv2d(1, 4, 3), torch.nn.BatchNorm2d(4))).state_dict())
    assert torch_names == list(nn.SyncBatchNorm.convert_sync_batchnorm(nn.Sequential(
        nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4))).state_dict())
