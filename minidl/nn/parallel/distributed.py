"""``DistributedDataParallel``: every rank holds the whole model; gradients are averaged over the ranks.

At wrap time rank 0's parameters and buffers are broadcast to every rank, so all replicas start equal.
During backward, a gradient hook on each parameter copies its gradient into a **bucket** (parameters
packed in reverse order, the order backward reaches them, up to ``bucket_cap_mb`` per bucket, one
dtype per bucket). The moment a bucket's last gradient arrives its average is started with a
non-blocking all-reduce (``Iallreduce``), while backward goes on through the earlier layers. The hook of
the last parameter waits for every bucket; each parameter's ``.grad`` then is a view of its bucket's
averaged values (a fresh buffer each backward, so a ``.grad`` kept from an earlier step never changes).

Every parameter that requires a gradient must receive one in every synchronised backward, or its
bucket is never complete: the next forward then raises, naming the parameters that got no gradient.
With ``find_unused_parameters=True`` each forward walks the autograd graph back from its outputs; the
parameters it does not reach are marked ready (their slot holds their current ``.grad``, or zeros) when
backward starts, so every bucket completes. A small all-reduce of "used here" flags then tells which
parameters no rank used: those keep their ``.grad`` unchanged (None stays None), as in PyTorch; a
parameter used on some ranks only gets the average, the others contributing zeros.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import numpy as np

from minidl import distributed as dist
from minidl.autograd import is_grad_enabled
from minidl.nn.module import Module
from minidl.tensor import Tensor

__all__ = ["DistributedDataParallel"]


def _reached_leaves(out: Any) -> set[int]:
    """ids of the leaf tensors the autograd graph of ``out`` (a Tensor, or lists/tuples/dicts of them) reaches."""
    stack: list[Any] = [out]
    roots: list[Tensor] = []
    while stack:
        item = stack.pop()
        if isinstance(item, Tensor):
            roots.append(item)
        elif isinstance(item, (list, tuple)):
            stack.extend(item)
        elif isinstance(item, dict):
            stack.extend(item.values())
    leaves: set[int] = set()
    seen: set[int] = set()
    functions = []
    for t in roots:
        if t.creator is None:
            leaves.add(id(t))
        else:
            functions.append(t.creator)
    while functions:
        f = functions.pop()
        if id(f) in seen or f.inputs is None:
            continue
        seen.add(id(f))
        for x in f.inputs:
            if x.creator is not None:
                functions.append(x.creator)
            elif x.requires_grad:
                leaves.add(id(x))
    return leaves


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
        if not dist.is_initialized():
            raise RuntimeError("DistributedDataParallel: call minidl.distributed.init_process_group() first")
        self.module = module
        self.broadcast_buffers = broadcast_buffers
        self.require_backward_grad_sync = True
        self._sync_this_backward = True
        self.bucket_cap_mb = 25.0 if bucket_cap_mb is None else float(bucket_cap_mb)
        self.process_group = process_group
        self.find_unused_parameters = find_unused_parameters
        with_grad = [p for p in module.parameters() if p.requires_grad]
        self._params = with_grad
        self._names = {id(p): name for name, p in module.named_parameters()}
        self._unused: list[Any] = []  # parameters the last forward's graph does not reach (find_unused_parameters)
        self._arrived: set[int] = set()  # parameters whose gradient came in this backward
        self._used_flags: tuple[np.ndarray, dist.Work] | None = None
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
        if not self._arrived:  # the first gradient of this backward
            self._pending = len(self._params) - len(self._unused)
            if self.find_unused_parameters:
                self._mark_unused_ready(g)
        self._arrived.add(id(p))
        self._pending -= 1
        view = self._contribute(p, g.array, g)
        p.grad = None  # .grad becomes the bucket's view below, not old .grad + view
        if self._pending == 0:  # the last gradient of this backward: every bucket has been started
            self._finish()
        return Tensor._wrap(view, g.backend, False)

    def _contribute(self, p: Any, grad: Any, like: Tensor) -> np.ndarray:
        """Put p's share into its bucket (launching the bucket's all-reduce when it is full); the view."""
        b = self._bucket_of[id(p)]
        xp = like.backend.xp  # numpy, or cupy under the nccl backend
        if b.ready == 0:
            b.buffer = xp.empty(b.size, dtype=b.dtype)
        lo, hi = b.offsets[id(p)]
        view = b.buffer[lo:hi].reshape(p.array.shape)
        # what .grad would hold after this backward (an earlier no_sync backward's sum included), pre-divided
        contribution = grad if p.grad is None else p.grad.array + grad
        xp.divide(contribution, dist.get_world_size(self.process_group), out=view)
        b.ready += 1
        if b.ready == len(b.params):
            b.work = dist.all_reduce(Tensor._wrap(b.buffer, like.backend, False), group=self.process_group,
                                     async_op=True)
        return view

    def _mark_unused_ready(self, like: Tensor) -> None:
        """find_unused_parameters: fill the slots of the parameters this forward did not use, and start the
        all-reduce of the "used here" flags."""
        xp = like.backend.xp
        for p in self._unused:
            self._contribute(p, xp.zeros_like(p.array), like)
        unused = {id(p) for p in self._unused}
        flags = xp.array([id(p) not in unused for p in self._params], dtype=np.int32)
        self._used_flags = flags, dist.all_reduce(Tensor._wrap(flags, like.backend, False),
                                                  group=self.process_group, async_op=True)

    def _finish(self) -> None:
        for bucket in self._buckets:
            bucket.work.wait()
        if self._used_flags is not None:
            flags, work = self._used_flags
            work.wait()
            for p, used_somewhere in zip(self._params, flags.tolist(), strict=True):
                if used_somewhere and id(p) not in self._arrived:  # unused here, used on another rank
                    b = self._bucket_of[id(p)]
                    lo, hi = b.offsets[id(p)]
                    p.grad = Tensor._wrap(b.buffer[lo:hi].reshape(p.array.shape), p.backend, False)
        for bucket in self._buckets:
            bucket.work, bucket.ready, bucket.buffer = None, 0, None
        self._arrived, self._used_flags = set(), None

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        if self._arrived:
            self._unfinished_reduction()
        self._sync_this_backward = self.require_backward_grad_sync
        if self.broadcast_buffers and self.training:
            for t in self.module.buffers():
                dist.broadcast(t, src=0, group=self.process_group)
        out = self.module(*args, **kwargs)
        self._unused = []
        if self.find_unused_parameters and self._sync_this_backward and is_grad_enabled():
            reached = _reached_leaves(out)
            self._unused = [p for p in self._params if id(p) not in reached]
        return out

    def _unfinished_reduction(self) -> None:
        missing = [(i, self._names.get(id(p), "?")) for i, p in enumerate(self._params) if id(p) not in self._arrived]
        rank = dist.get_rank(self.process_group)
        raise RuntimeError(
            "DistributedDataParallel: expected to have finished reduction in the prior iteration before starting "
            "a new one: the module has parameters that were not used in producing the loss. Pass "
            "find_unused_parameters=True to DistributedDataParallel, or make every output take part in the loss. "
            f"Parameter indices which did not receive grad for rank {rank}: {' '.join(str(i) for i, _ in missing)}. "
            f"Parameters which did not receive grad for rank {rank}: {', '.join(n for _, n in missing)}")

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
