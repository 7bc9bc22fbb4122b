"""``nn.SyncBatchNorm``: batch norm whose statistics are taken over the whole batch of every rank.

Under ``DistributedDataParallel`` each rank sees B/p samples; a plain BatchNorm normalises with the
statistics of those few. SyncBatchNorm combines the ranks' statistics in forward, so that p ranks with
B/p samples each compute what one process computes with the batch of B.

Forward: each rank r sends (n_r, mean_r, M2_r), with M2_r = sum over its samples of (x - mean_r)^2, in one
``all_gather``; every rank then combines them (Chan et al.'s parallel variance, no cancellation):

    N = sum n_r,   mean = sum n_r mean_r / N,   M2 = sum M2_r + sum n_r (mean_r - mean)^2,   var = M2 / N
    xhat = (x - mean) / sqrt(var + eps),   y = xhat * w + b

Backward: with g = dL/dy * w, the gradient of batch norm needs two means over the *whole* batch,
mean(g) and mean(g * xhat), so their per-channel sums are all-reduced:

    dL/dx = rstd * (g - sum_all(g) / N - xhat * sum_all(g * xhat) / N)
    dL/dw = sum_local dL/dy * xhat,   dL/db = sum_local dL/dy

dL/dw and dL/db stay local, as in PyTorch: ``DistributedDataParallel`` averages them with the other
gradients. The running statistics use the unbiased variance M2 / (N - 1), as BatchNorm with batch N.

Outside a process group of more than one rank, or in eval mode, the layer is a BatchNorm (PyTorch's
rule). Unlike PyTorch (CUDA only), minidl's runs on CPU tensors too: the ``mpi`` backend carries them.
Double backward through the all-reduce is not supported.
"""

from __future__ import annotations

from typing import Any

from minidl import distributed as dist
from minidl.autograd import Function, is_grad_enabled
from minidl.errors import shape_error
from minidl.nn.module import Module
from minidl.nn.normalization import _BatchNorm
from minidl.ops.norm import _update_running_stats, batch_norm
from minidl.tensor import Tensor

__all__ = ["SyncBatchNorm", "SyncBatchNormFunction"]


def _all_gather(fn: Function, stats: Any) -> Any:
    """Every rank's ``stats`` row stacked (p, k); the identity when the world size is 1."""
    if fn.world_size == 1:
        return stats[None]
    out = fn.backend.xp.empty((fn.world_size, *stats.shape), dtype=stats.dtype)
    dist.all_gather_into_tensor(fn.wrap(out), fn.wrap(stats), group=fn.group)
    return out


def _all_reduce(fn: Function, sums: Any) -> None:
    """Sum ``sums`` over the ranks, in place."""
    if fn.world_size > 1:
        dist.all_reduce(fn.wrap(sums), group=fn.group)


class SyncBatchNormFunction(Function):
    """Training-mode batch norm of x (N, C, *) with statistics over every rank of ``group``
    (``world_size`` 1: no communication, the plain batch norm)."""

    def __init__(self, eps: float, group: Any, world_size: int, has_weight: bool, has_bias: bool) -> None:
        self.eps, self.group, self.world_size = eps, group, world_size
        self.has_weight, self.has_bias = has_weight, has_bias

    def forward(self, x, *params):
        xp = self.backend.xp
        self.axes = (0, *range(2, x.ndim))
        self.shape = (1, x.shape[1]) + (1,) * (x.ndim - 2)
        C = x.shape[1]
        n = x.size // C
        mean_r = x.mean(self.axes)
        m2_r = ((x - mean_r.reshape(self.shape)) ** 2).sum(self.axes)
        stats = xp.concatenate([xp.full(1, n, dtype=x.dtype), mean_r, m2_r])
        rows = _all_gather(self, stats)
        counts, means, m2s = rows[:, :1], rows[:, 1:C + 1], rows[:, C + 1:]
        self.count = N = int(round(float(counts.sum())))
        mean = (counts * means).sum(0) / N
        var = (m2s.sum(0) + (counts * (means - mean) ** 2).sum(0)) / N
        rstd = 1 / xp.sqrt(var + self.eps)
        y = (x - mean.reshape(self.shape)) * rstd.reshape(self.shape)
        if self.has_weight:
            y = y * params[0].reshape(self.shape)
        if self.has_bias:
            y = y + params[-1].reshape(self.shape)
        self.save_for_backward(mean, rstd, var)  # var: the running update
        return y.astype(x.dtype, copy=False)

    def backward(self, gy):
        if is_grad_enabled():
            raise RuntimeError("SyncBatchNorm: double backward (create_graph=True) through the all-reduce of its "
                               "statistics is not supported")
        x, *params = self.inputs
        mean, rstd = self.saved_tensors[:2]
        g, shape, axes, N = gy.array, self.shape, self.axes, self.count
        xhat = (x.array - mean.reshape(shape)) * rstd.reshape(shape)
        gg = g * params[0].array.reshape(shape) if self.has_weight else g
        C = x.shape[1]
        sums = self.backend.xp.concatenate([gg.sum(axes), (gg * xhat).sum(axes)])
        _all_reduce(self, sums)
        gx = rstd.reshape(shape) * (gg - (sums[:C] / N).reshape(shape) - xhat * (sums[C:] / N).reshape(shape))
        grads = [self.wrap(gx.astype(x.array.dtype, copy=False))]
        if self.has_weight:
            grads.append(self.wrap((g * xhat).sum(axes)))
        if self.has_bias:
            grads.append(self.wrap(g.sum(axes)))
        return tuple(grads) if len(grads) > 1 else grads[0]


class SyncBatchNorm(_BatchNorm):
    """Batch norm of x (N, C, *) with statistics over the batches of every rank (module docstring).

    >>> import minidl.nn as nn
    >>> model = nn.SyncBatchNorm.convert_sync_batchnorm(nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4)))
    >>> type(model[1]).__name__
    'SyncBatchNorm'
    """

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1, affine: bool = True,
                 track_running_stats: bool = True, process_group: Any = None, dtype: Any = None, backend: Any = None,
                 device: Any = None) -> None:
        super().__init__(num_features, eps, momentum, affine, track_running_stats, dtype=dtype, backend=backend,
                         device=device)
        self.process_group = process_group

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim < 2:
            raise shape_error("SyncBatchNorm", x.shape, expected="an input (N, C) or (N, C, *)")
        if x.shape[1] != self.num_features:
            raise shape_error("SyncBatchNorm", x.shape, expected=f"{self.num_features} channels on axis 1")
        factor = self._momentum_factor()
        use_batch = self.training or self.running_mean is None
        track = not self.training or self.track_running_stats
        running_mean, running_var = (self.running_mean, self.running_var) if track else (None, None)
        world = dist.get_world_size(self.process_group) if dist.is_initialized() else 1
        if not (self.training and world > 1):
            return batch_norm(x, running_mean, running_var, self.weight, self.bias, use_batch, factor, self.eps)
        fn = SyncBatchNormFunction(self.eps, self.process_group, world, self.weight is not None, self.bias is not None)
        y = fn(x, *(t for t in (self.weight, self.bias) if t is not None))
        if running_mean is not None and running_var is not None:
            N = fn.count
            if N <= 1:
                raise ValueError(f"SyncBatchNorm: expected more than 1 value per channel over all ranks when "
                                 f"training, got {N}")
            mean, _, var = fn.saved_tensors
            _update_running_stats(running_mean, running_var, mean, var, factor, N)
        return y

    @classmethod
    def convert_sync_batchnorm(cls, module: Module, process_group: Any = None) -> Module:
        """``module`` with every BatchNorm*d replaced by a SyncBatchNorm holding the same parameters and
        buffers (the objects themselves, as PyTorch does); returns the new root."""
        out = module
        if isinstance(module, _BatchNorm):
            out = cls(module.num_features, module.eps, module.momentum, module.affine, module.track_running_stats,
                      process_group)
            if module.affine:
                out.weight, out.bias = module.weight, module.bias
            out.running_mean, out.running_var = module.running_mean, module.running_var
            out.num_batches_tracked = module.num_batches_tracked
            out.training = module.training
        for name, child in list(module.named_children()):
            out.add_module(name, cls.convert_sync_batchnorm(child, process_group))
        return out
