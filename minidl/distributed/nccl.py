"""The ``nccl`` backend: collectives on GPU tensors (the ``cupy`` backend) through ``cupy.cuda.nccl``.

``init_process_group("nccl")`` runs under ``mpiexec`` like the ``mpi`` backend: MPI gives the ranks and
carries the rendezvous. Each rank picks its GPU (``device_id``, else ``LOCAL_RANK`` modulo the GPUs of the
machine), rank 0 asks NCCL for a unique id (128 bytes), MPI broadcasts it, and every rank joins the NCCL
communicator with ``NcclCommunicator(world_size, unique_id, rank)``.

Every call is enqueued on the **current CUDA stream** (``cupy.cuda.get_current_stream()``), after the
kernels that produced the tensor and before those that read the result, so no synchronisation is
needed between them; ``ReduceOp.AVG`` is NCCL's own (NCCL 2.10+). The host returns at once: a ``Work``
records a CUDA event after the call, and ``wait()`` polls it until the group's timeout. NCCL has no
gather or scatter (PyTorch builds them from send/recv); those raise here.

The calls and their argument types are those of cupy's wrapper (``cupy_backends/cuda/libs/nccl.pyx``)::

    allReduce(sendbuf, recvbuf, count, datatype, op, stream)       # pointers, counts, streams: ints
    reduce(sendbuf, recvbuf, count, datatype, op, root, stream)
    broadcast(sendbuf, recvbuf, count, datatype, root, stream)
    allGather(sendbuf, recvbuf, count, datatype, stream)
    reduceScatter(sendbuf, recvbuf, recvcount, datatype, op, stream)
"""

from __future__ import annotations

import os
import time
from typing import Any

import numpy as np

from minidl.distributed.work import DistBackendError, ReduceOp, Work, _abort_at_exit, _Group
from minidl.tensor import Tensor

__all__ = ["NcclWork", "all_gather", "all_gather_into_tensor", "all_reduce", "barrier", "broadcast", "create",
           "is_available", "reduce", "reduce_scatter", "reduce_scatter_tensor"]

_DTYPES = {np.dtype(np.float16): "NCCL_FLOAT16", np.dtype(np.float32): "NCCL_FLOAT32",
           np.dtype(np.float64): "NCCL_FLOAT64", np.dtype(np.int8): "NCCL_INT8", np.dtype(np.uint8): "NCCL_UINT8",
           np.dtype(np.int32): "NCCL_INT32", np.dtype(np.int64): "NCCL_INT64"}
_OPS = {ReduceOp.SUM: "NCCL_SUM", ReduceOp.PRODUCT: "NCCL_PROD", ReduceOp.MIN: "NCCL_MIN",
        ReduceOp.MAX: "NCCL_MAX", ReduceOp.AVG: "NCCL_AVG"}


def _cupy() -> tuple[Any, Any]:
    """``(cupy, cupy.cuda.nccl)``, or an ImportError naming what to install."""
    try:
        import cupy
        from cupy.cuda import nccl
    except ImportError as e:
        raise ImportError(f'minidl.distributed: the "nccl" backend needs CuPy with NCCL: pip install '
                          f'"minidl[cupy]" (cupy-cuda12x, whose wheels bring NCCL) ({e})') from e
    if not getattr(nccl, "available", False):
        raise ImportError('minidl.distributed: the "nccl" backend: this CuPy was built without NCCL')
    return cupy, nccl


def is_available() -> bool:
    """Whether CuPy with NCCL can be imported (a GPU is checked only by ``init_process_group``)."""
    try:
        _cupy()
    except ImportError:
        return False
    return True


def create(group: _Group, device_id: Any = None) -> Any:
    """The NCCL communicator of ``group`` (its MPI communicator carries the unique id); selects the GPU."""
    cupy, nccl = _cupy()
    count = cupy.cuda.runtime.getDeviceCount()
    if count < 1:
        raise RuntimeError('init_process_group: the "nccl" backend needs a GPU; none is visible')
    if device_id is None:
        local = int(os.environ.get("LOCAL_RANK", os.environ.get("MPI_LOCALRANKID", group.rank)))
        device_id = local % count
    cupy.cuda.Device(int(getattr(device_id, "index", device_id) or 0)).use()
    unique_id = nccl.get_unique_id() if group.rank == 0 else None
    unique_id = group.comm.bcast(unique_id, root=0)  # 128 small ints, once: pickling is fine here
    return nccl.NcclCommunicator(group.size, tuple(unique_id), group.rank)


class NcclWork(Work):
    """A call enqueued on the current stream: done when the CUDA event recorded after it has passed."""

    def __init__(self, event: Any, what: str, group: _Group) -> None:
        super().__init__(None, None, what, group)
        self._event = event

    def is_completed(self) -> bool:
        self._done = self._done or bool(self._event.done)
        return self._done

    def wait(self, timeout: Any = None) -> bool:
        if self._done:
            return True
        limit = self._group.timeout if timeout is None else (
            timeout.total_seconds() if hasattr(timeout, "total_seconds") else float(timeout))
        deadline = time.monotonic() + limit
        while not self._event.done:
            if time.monotonic() > deadline:
                _abort_at_exit()
                raise DistBackendError(f"minidl.distributed: {self._what} did not complete within the timeout of "
                                       f"{limit:g} s on rank {self._group.rank} of {self._group.size} (nccl): "
                                       f"another rank died, hangs, or did not call {self._what}")
            time.sleep(0)
        self._done = True
        return True


def _device(t: Tensor, what: str) -> Any:
    cupy, _ = _cupy()
    if not isinstance(t, Tensor):
        raise TypeError(f"{what}: expected a minidl Tensor, got {type(t).__name__}")
    a = t.array
    if not isinstance(a, cupy.ndarray):
        raise TypeError(f'{what}: the "nccl" backend takes GPU tensors (the cupy backend); got a tensor on the '
                        f'{t.backend.name!r} backend: move it with .to("cuda"), or use the "mpi" backend')
    if not a.flags.c_contiguous:
        raise ValueError(f"{what}: Tensors must be contiguous (got shape {tuple(a.shape)} with strides "
                         f"{a.strides}); call .contiguous() first")
    if a.dtype not in _DTYPES:
        raise TypeError(f"{what}: NCCL has no {a.dtype}; it takes {', '.join(str(d) for d in _DTYPES)}")
    return a


def _const(name: str) -> int:
    return int(getattr(_cupy()[1], name))


def _launch(g: _Group, what: str, async_op: bool, call: Any, *changed: Tensor) -> Work | None:
    """Enqueue ``call(stream)`` on the current stream; a Work (async_op) or None once the event has passed."""
    cupy, _ = _cupy()
    stream = cupy.cuda.get_current_stream()
    call(int(stream.ptr))
    for t in changed:
        t._version += 1
    event = cupy.cuda.Event(block=False, disable_timing=True)
    event.record(stream)
    work = NcclWork(event, what, g)
    if async_op:
        return work
    work.wait()
    return None


def all_reduce(g: _Group, tensor: Tensor, op: ReduceOp, async_op: bool) -> Work | None:
    a = _device(tensor, "all_reduce")
    dtype, nop = _const(_DTYPES[a.dtype]), _const(_OPS[op])
    ptr = int(a.data.ptr)
    return _launch(g, "all_reduce", async_op, lambda s: g.nccl.allReduce(ptr, ptr, int(a.size), dtype, nop, s),
                   tensor)


def reduce(g: _Group, tensor: Tensor, dst: int, op: ReduceOp, async_op: bool) -> Work | None:
    a = _device(tensor, "reduce")
    dtype, nop, ptr = _const(_DTYPES[a.dtype]), _const(_OPS[op]), int(a.data.ptr)
    return _launch(g, "reduce", async_op,
                   lambda s: g.nccl.reduce(ptr, ptr, int(a.size), dtype, nop, int(dst), s), tensor)


def broadcast(g: _Group, tensor: Tensor, src: int, async_op: bool) -> Work | None:
    a = _device(tensor, "broadcast")
    dtype, ptr = _const(_DTYPES[a.dtype]), int(a.data.ptr)
    return _launch(g, "broadcast", async_op,
                   lambda s: g.nccl.broadcast(ptr, ptr, int(a.size), dtype, int(src), s), tensor)


def all_gather_into_tensor(g: _Group, output: Tensor, input: Tensor, async_op: bool) -> Work | None:
    out, inp = _device(output, "all_gather_into_tensor"), _device(input, "all_gather_into_tensor")
    if out.size != g.size * inp.size or out.dtype != inp.dtype:
        raise ValueError(f"all_gather_into_tensor: output {tuple(out.shape)} {out.dtype}, expected "
                         f"{g.size} x {tuple(inp.shape)} {inp.dtype}")
    dtype = _const(_DTYPES[inp.dtype])
    send, recv = int(inp.data.ptr), int(out.data.ptr)
    return _launch(g, "all_gather_into_tensor", async_op,
                   lambda s: g.nccl.allGather(send, recv, int(inp.size), dtype, s), output)


def all_gather(g: _Group, tensor_list: list[Tensor], tensor: Tensor, async_op: bool) -> Work | None:
    """Through one ``allGather`` into a (world, *shape) buffer, then copied into the list (on the stream)."""
    inp = _device(tensor, "all_gather")
    if len(tensor_list) != g.size:
        raise ValueError(f"all_gather: tensor_list holds {len(tensor_list)} tensors; the world size is {g.size}")
    cupy, _ = _cupy()
    stacked = Tensor._wrap(cupy.empty((g.size, *inp.shape), dtype=inp.dtype), tensor.backend, False)
    all_gather_into_tensor(g, stacked, tensor, True)
    for t, part in zip(tensor_list, stacked.array, strict=True):
        if tuple(t.array.shape) != tuple(part.shape):
            raise ValueError(f"all_gather: output tensor of shape {tuple(t.array.shape)}, expected {tuple(part.shape)}")
        t.array[...] = part
    return _launch(g, "all_gather", async_op, lambda s: None, *tensor_list)


def reduce_scatter_tensor(g: _Group, output: Tensor, input: Tensor, op: ReduceOp, async_op: bool) -> Work | None:
    out, inp = _device(output, "reduce_scatter_tensor"), _device(input, "reduce_scatter_tensor")
    if inp.size != g.size * out.size or inp.dtype != out.dtype:
        raise ValueError(f"reduce_scatter_tensor: input {tuple(inp.shape)} {inp.dtype}, expected "
                         f"{g.size} x {tuple(out.shape)} {out.dtype}")
    dtype, nop = _const(_DTYPES[out.dtype]), _const(_OPS[op])
    send, recv = int(inp.data.ptr), int(out.data.ptr)
    return _launch(g, "reduce_scatter_tensor", async_op,
                   lambda s: g.nccl.reduceScatter(send, recv, int(out.size), dtype, nop, s), output)


def reduce_scatter(g: _Group, output: Tensor, input_list: list[Tensor], op: ReduceOp, async_op: bool) -> Work | None:
    if len(input_list) != g.size:
        raise ValueError(f"reduce_scatter: input_list holds {len(input_list)} tensors; the world size is {g.size}")
    cupy, _ = _cupy()
    stacked = cupy.ascontiguousarray(cupy.stack([_device(t, "reduce_scatter") for t in input_list]))
    return reduce_scatter_tensor(g, output, Tensor._wrap(stacked, output.backend, False), op, async_op)


def barrier(g: _Group, async_op: bool) -> Work | None:
    """A one-element all-reduce on the device, as PyTorch's NCCL barrier."""
    cupy, _ = _cupy()
    one = Tensor._wrap(cupy.zeros(1, dtype=cupy.float32), None, False)
    return all_reduce(g, one, ReduceOp.SUM, async_op)
