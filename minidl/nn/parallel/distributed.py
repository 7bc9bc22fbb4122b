"""``DistributedDataParallel``: every rank holds the whole model; gradients are averaged over the ranks.

At wrap time rank 0's parameters and buffers are broadcast to every rank, so all replicas start equal.
During backward, a gradient hook on each parameter copies its gradient into a **bucket** (parameters
packed in reverse order, the order backward reaches them, up to ``bucket_cap_mb`` per bucket, one
dtype per bucket). The moment a bucket's last gradient arrives its average is started with a
non-blocking all-reduce (``Iallreduce``), while backward goes on through the earlier layers. The hook of
the last parameter waits for every bucket; each parameter's ``.grad`` then is a view of its bucket's
averaged values (a fresh buffer each backward, so a ``.grad`` kept from an earlier step never changes).

Every parameter that requires a gradient must receive one in every synchronised backward
(``find_unused_parameters`` is not written yet: a parameter left out of the loss leaves the ranks waiting).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import numpy as np

from minidl import distributed as dist
from minidl.nn.module import Module
from minidl.tensor import Tensor

__all__ = ["DistributedDataParallel"]


class _Bucket:
    def __init__(self, params: list[Any]) -> None:
        self.params = params
        self.offsets: dict[int, tuple[int, int]] = {}
        n = 0
        for p in params:
            self.offsets[id(p)] = (n, n + p.array.size)
            n += p.array.size
        self.size, self.dtype = n, params[0].array.dtype
        self.buffer: np.ndarray | None = None
        self.ready = 0
        self.work: dist.Work | None = None


class DistributedDataParallel(Module):
    """Wrap ``module`` for data-parallel training: call it as the module; after ``loss.backward()`` every
    rank's gradients are the average over all ranks, so equal optimizer steps keep the replicas equal.

    ``bucket_cap_mb`` (25 by default) bounds the size of one all-reduce. ``broadcast_buffers`` re-sends
    rank 0's buffers (BatchNorm's running statistics) before each forward. Inside ``with ddp.no_sync():``
    backward only accumulates locally; the first backward after it averages the accumulated sum.
    """

    def __init__(self, module: Module, device_ids: Any = None, output_device: Any = None, dim: int = 0,
                 broadcast_buffers: bool = True, process_group: Any = None, bucket_cap_mb: float | None = None,
                 find_unused_parameters: bool = False, gradient_as_bucket_view: bool = False,
                 static_graph: bool = False) -> None:
        super().__init__()
        if find_unused_parameters:
            raise NotImplementedError("DistributedDataParallel: find_unused_parameters is not implemented yet")
        if not dist.is_initialized():
            raise RuntimeError("DistributedDataParallel: call minidl.distributed.init_process_group() first")
        self.module = module
        self.broadcast_buffers = broadcast_buffers
        self.require_backward_grad_sync = True
        self._sync_this_backward = True
        self.bucket_cap_mb = 25.0 if bucket_cap_mb is None else float(bucket_cap_mb)
        self.process_group = process_group
        with_grad = [p for p in module.parameters() if p.requires_grad]
        for t in [*module.parameters(), *module.buffers()]:
            dist.broadcast(t, src=0, group=process_group)
        self._buckets = self._make_buckets(with_grad)
        self._bucket_of = {id(p): b for b in self._buckets for p in b.params}
        self._pending = 0  # gradients still to come in this backward
        self._handles = [p.register_hook(self._make_hook(p)) for p in with_grad]

    def _make_buckets(self, params: list[Any]) -> list[_Bucket]:
        cap = max(1, int(self.bucket_cap_mb * 2**20))
        buckets: list[_Bucket] = []
        open_: dict[np.dtype, tuple[list[Any], int]] = {}
        for p in reversed(params):  # backward reaches the last layers first
            members, nbytes = open_.get(p.array.dtype, ([], 0))
            members.append(p)
            nbytes += p.array.nbytes
            if nbytes >= cap:
                buckets.append(_Bucket(members))
                members, nbytes = [], 0
            open_[p.array.dtype] = (members, nbytes)
        buckets += [_Bucket(members) for members, _ in open_.values() if members]
        return buckets

    def _make_hook(self, p: Any) -> Any:
        def hook(g: Tensor) -> Tensor | None:
            return self._on_grad(p, g)
        return hook

    def _on_grad(self, p: Any, g: Tensor) -> Tensor | None:
        if not self._sync_this_backward:
            return None  # no_sync(): accumulate into .grad as usual
        b = self._bucket_of[id(p)]
        if b.ready == 0:
            b.buffer = np.empty(b.size, dtype=b.dtype)
            if self._pending == 0:
                self._pending = sum(len(x.params) for x in self._buckets)
        lo, hi = b.offsets[id(p)]
        view = b.buffer[lo:hi].reshape(p.array.shape)
        # what .grad would hold after this backward (an earlier no_sync backward's sum included), pre-divided
        contribution = g.array if p.grad is None else p.grad.array + g.array
        np.divide(contribution, dist.get_world_size(self.process_group), out=view)
        p.grad = None  # .grad becomes the bucket's view below, not old .grad + view
        b.ready += 1
        self._pending -= 1
        if b.ready == len(b.params):
            b.work = dist.all_reduce(Tensor._wrap(b.buffer, g.backend, False), group=self.process_group,
                                     async_op=True)
        if self._pending == 0:  # the last gradient of this backward: every bucket has been started
            for bucket in self._buckets:
                bucket.work.wait()
                bucket.work, bucket.ready, bucket.buffer = None, 0, None
        return Tensor._wrap(view, g.backend, False)

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        self._sync_this_backward = self.require_backward_grad_sync
        if self.broadcast_buffers and self.training:
            for t in self.module.buffers():
                dist.broadcast(t, src=0, group=self.process_group)
        return self.module(*args, **kwargs)

    @contextlib.contextmanager
    def no_sync(self) -> Iterator[None]:
        """Backward passes of forwards run inside this block accumulate gradients locally, without
        communicating; the first synchronised backward after it averages the accumulated sum."""
        old = self.require_backward_grad_sync
        self.require_backward_grad_sync = False
        try:
            yield
        finally:
            self.require_backward_grad_sync = old
