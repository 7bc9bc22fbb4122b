"""Collectives on Tensors over MPI: each works in place on ``tensor.array`` through the buffer interface.

Every collective starts MPI's non-blocking version (``Iallreduce``, ``Ibcast``, ...). Without
``async_op`` it then waits (at most the group's timeout) and returns None; with ``async_op=True`` it
returns a ``Work``: the tensors hold the result after ``work.wait()``. MPI has no average:
``ReduceOp.AVG`` sums, then divides by the world size. A group of the ``nccl`` backend hands every call to
``minidl/distributed/nccl.py`` (GPU tensors, the current CUDA stream). With ``MINIDL_DISTRIBUTED_DEBUG=1``
each call first checks that every rank passes the same shape and dtype (``minidl/distributed/debug.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from minidl.distributed import debug, nccl
from minidl.distributed.group import _group
from minidl.distributed.work import ReduceOp, Work, _Group, mpi
from minidl.tensor import Tensor

__all__ = ["all_gather", "all_gather_into_tensor", "all_reduce", "barrier", "broadcast", "gather", "reduce",
           "reduce_scatter", "reduce_scatter_tensor", "scatter"]


def _array(t: Tensor, what: str) -> np.ndarray:
    if not isinstance(t, Tensor):
        raise TypeError(f"{what}: expected a minidl Tensor, got {type(t).__name__}")
    if not isinstance(t.array, np.ndarray):
        raise TypeError(f"{what}: a tensor on the {t.backend.name!r} backend; the mpi backend takes CPU tensors "
                        f"(numpy, numba backends): move it with .to('cpu')")
    return t.array


def _inout(t: Tensor, what: str) -> tuple[np.ndarray, Callable[[], None]]:
    """A contiguous, writable buffer for ``t`` and the function that makes ``t`` hold it afterwards."""
    a = _array(t, what)
    buf = a if a.flags.c_contiguous and a.flags.writeable else np.array(a, order="C", copy=True)

    def done() -> None:
        if buf is not t.array:
            if t.array.flags.writeable:
                t.array[...] = buf
            else:
                t.array = buf
        t._version += 1  # changed in place: a backward that saved this tensor refuses it

    return buf, done


def _write(t: Tensor, value: np.ndarray, what: str) -> None:
    a = _array(t, what)
    if a.shape != value.shape:
        raise ValueError(f"{what}: output tensor of shape {tuple(a.shape)}, expected {tuple(value.shape)}")
    if a.flags.writeable:
        a[...] = value
    else:
        t.array = value.astype(a.dtype, copy=True)
    t._version += 1


def _mpi_op(op: ReduceOp, dtype: np.dtype, what: str) -> Any:
    MPI = mpi()  # noqa: N806
    if not isinstance(op, ReduceOp):
        raise TypeError(f"{what}: op must be a ReduceOp, got {op!r}")
    if op is ReduceOp.AVG and not np.issubdtype(dtype, np.floating):
        raise TypeError(f"{what}: ReduceOp.AVG needs a floating-point tensor, got {dtype}")
    return {ReduceOp.SUM: MPI.SUM, ReduceOp.AVG: MPI.SUM, ReduceOp.PRODUCT: MPI.PROD,
            ReduceOp.MIN: MPI.MIN, ReduceOp.MAX: MPI.MAX}[op]


def _average(buf: np.ndarray, op: ReduceOp, size: int) -> None:
    if op is ReduceOp.AVG:
        np.divide(buf, size, out=buf)


def _launch(g: _Group, what: str, async_op: bool, start: Callable[[], Any], finish: Callable[[], None]) -> Work | None:
    """Start the non-blocking call; wait for it here unless ``async_op`` (then the caller's ``wait()`` does)."""
    work = Work(start(), finish, what, g)
    if async_op:
        return work
    work.wait()
    return None


def _debug_check(g: _Group, what: str, t: Tensor | None) -> None:
    """MINIDL_DISTRIBUTED_DEBUG: every rank calls ``what`` with ``t`` of the same shape and dtype (debug.py)."""
    if isinstance(t, Tensor):
        debug.check_same(g, what, tuple(t.array.shape), t.array.dtype)
    else:
        debug.check_same(g, what)


def _check_list(tensors: Sequence[Tensor], size: int, what: str, name: str) -> None:
    if len(tensors) != size:
        raise ValueError(f"{what}: {name} holds {len(tensors)} tensors; the world size is {size}")


def all_reduce(tensor: Tensor, op: ReduceOp = ReduceOp.SUM, group: Any = None, async_op: bool = False) -> Work | None:
    """Combine ``tensor`` over all ranks with ``op``; every rank's ``tensor`` holds the result."""
    g = _group(group)
    if g.debug:
        _debug_check(g, "all_reduce", tensor)
    if g.backend == "nccl":
        return nccl.all_reduce(g, tensor, op, async_op)
    buf, done = _inout(tensor, "all_reduce")
    mop, MPI = _mpi_op(op, buf.dtype, "all_reduce"), mpi()  # noqa: N806

    def finish() -> None:
        _average(buf, op, g.size)
        done()

    return _launch(g, "all_reduce", async_op, lambda: g.comm.Iallreduce(MPI.IN_PLACE, buf, mop), finish)


def reduce(tensor: Tensor, dst: int = 0, op: ReduceOp = ReduceOp.SUM, group: Any = None,
           async_op: bool = False) -> Work | None:
    """Combine ``tensor`` over all ranks into rank ``dst``'s ``tensor`` (the others keep theirs)."""
    g = _group(group)
    if g.debug:
        _debug_check(g, "reduce", tensor)
    if g.backend == "nccl":
        return nccl.reduce(g, tensor, dst, op, async_op)
    buf, done = _inout(tensor, "reduce")
    mop, MPI = _mpi_op(op, buf.dtype, "reduce"), mpi()  # noqa: N806
    root = g.rank == dst
    send, recv = (MPI.IN_PLACE, buf) if root else (buf, None)

    def finish() -> None:
        if root:
            _average(buf, op, g.size)
            done()

    return _launch(g, "reduce", async_op, lambda: g.comm.Ireduce(send, recv, mop, root=dst), finish)


def broadcast(tensor: Tensor, src: int = 0, group: Any = None, async_op: bool = False) -> Work | None:
    """Copy rank ``src``'s ``tensor`` into every rank's ``tensor``."""
    g = _group(group)
    if g.debug:
        _debug_check(g, "broadcast", tensor)
    if g.backend == "nccl":
        return nccl.broadcast(g, tensor, src, async_op)
    buf, done = _inout(tensor, "broadcast")
    return _launch(g, "broadcast", async_op, lambda: g.comm.Ibcast(buf, root=src), done)


def all_gather(tensor_list: list[Tensor], tensor: Tensor, group: Any = None, async_op: bool = False) -> Work | None:
    """Every rank's ``tensor`` into ``tensor_list[rank]`` on every rank."""
    g = _group(group)
    if g.debug:
        _debug_check(g, "all_gather", tensor)
    if g.backend == "nccl":
        return nccl.all_gather(g, tensor_list, tensor, async_op)
    _check_list(tensor_list, g.size, "all_gather", "tensor_list")
    send = np.ascontiguousarray(_array(tensor, "all_gather"))
    recv = np.empty((g.size, *send.shape), dtype=send.dtype)

    def finish() -> None:
        for t, part in zip(tensor_list, recv, strict=True):
            _write(t, part, "all_gather")

    return _launch(g, "all_gather", async_op, lambda: g.comm.Iallgather(send, recv), finish)


def all_gather_into_tensor(output_tensor: Tensor, input_tensor: Tensor, group: Any = None,
                           async_op: bool = False) -> Work | None:
    """Every rank's ``input_tensor`` concatenated (or stacked) along dim 0 into ``output_tensor``."""
    g = _group(group)
    if g.debug:
        _debug_check(g, "all_gather_into_tensor", input_tensor)
    if g.backend == "nccl":
        return nccl.all_gather_into_tensor(g, output_tensor, input_tensor, async_op)
    send = np.ascontiguousarray(_array(input_tensor, "all_gather_into_tensor"))
    out, done = _inout(output_tensor, "all_gather_into_tensor")
    if out.size != g.size * send.size or out.dtype != send.dtype:
        raise ValueError(f"all_gather_into_tensor: output {tuple(out.shape)} {out.dtype}, expected "
                         f"{g.size} x {tuple(send.shape)} {send.dtype}")
    return _launch(g, "all_gather_into_tensor", async_op, lambda: g.comm.Iallgather(send, out), done)


def gather(tensor: Tensor, gather_list: list[Tensor] | None = None, dst: int = 0, group: Any = None,
           async_op: bool = False) -> Work | None:
    """Every rank's ``tensor`` into ``gather_list[rank]`` on rank ``dst`` (the others pass no list)."""
    g = _group(group)
    if g.debug:
        _debug_check(g, "gather", tensor)
    if g.backend == "nccl":
        raise NotImplementedError("gather: NCCL has no gather; with the nccl backend use all_gather or broadcast")
    send = np.ascontiguousarray(_array(tensor, "gather"))
    root = g.rank == dst
    recv = None
    if root:
        if gather_list is None:
            raise ValueError("gather: the destination rank must pass gather_list")
        _check_list(gather_list, g.size, "gather", "gather_list")
        recv = np.empty((g.size, *send.shape), dtype=send.dtype)

    def finish() -> None:
        if root:
            for t, part in zip(gather_list, recv, strict=True):
                _write(t, part, "gather")

    return _launch(g, "gather", async_op, lambda: g.comm.Igather(send, recv, root=dst), finish)


def scatter(tensor: Tensor, scatter_list: list[Tensor] | None = None, src: int = 0, group: Any = None,
            async_op: bool = False) -> Work | None:
    """``scatter_list[rank]`` of rank ``src`` into every rank's ``tensor``."""
    g = _group(group)
    if g.debug:
        _debug_check(g, "scatter", tensor)
    if g.backend == "nccl":
        raise NotImplementedError("scatter: NCCL has no scatter; with the nccl backend use all_gather or broadcast")
    buf, done = _inout(tensor, "scatter")
    send = None
    if g.rank == src:
        if scatter_list is None:
            raise ValueError("scatter: the source rank must pass scatter_list")
        _check_list(scatter_list, g.size, "scatter", "scatter_list")
        send = np.ascontiguousarray(np.stack([_array(t, "scatter") for t in scatter_list]), dtype=buf.dtype)
        if send.shape[1:] != buf.shape:
            raise ValueError(f"scatter: scatter_list tensors of shape {send.shape[1:]}, output {buf.shape}")
    return _launch(g, "scatter", async_op, lambda: g.comm.Iscatter(send, buf, root=src), done)


def reduce_scatter(output: Tensor, input_list: list[Tensor], op: ReduceOp = ReduceOp.SUM, group: Any = None,
                   async_op: bool = False) -> Work | None:
    """``input_list[r]`` combined over all ranks with ``op`` into rank r's ``output``."""
    g = _group(group)
    if g.debug:
        _debug_check(g, "reduce_scatter", output)
    if g.backend == "nccl":
        return nccl.reduce_scatter(g, output, input_list, op, async_op)
    _check_list(input_list, g.size, "reduce_scatter", "input_list")
    out, done = _inout(output, "reduce_scatter")
    send = np.ascontiguousarray(np.stack([_array(t, "reduce_scatter") for t in input_list]), dtype=out.dtype)
    if send.shape[1:] != out.shape:
        raise ValueError(f"reduce_scatter: input_list tensors of shape {send.shape[1:]}, output {out.shape}")
    return _reduce_scatter_block(g, send, out, done, op, async_op, "reduce_scatter")


def reduce_scatter_tensor(output: Tensor, input: Tensor, op: ReduceOp = ReduceOp.SUM, group: Any = None,
                          async_op: bool = False) -> Work | None:
    """``input`` split along dim 0 into world-size parts; part r combined over all ranks into rank r's ``output``."""
    g = _group(group)
    if g.debug:
        _debug_check(g, "reduce_scatter_tensor", input)
    if g.backend == "nccl":
        return nccl.reduce_scatter_tensor(g, output, input, op, async_op)
    out, done = _inout(output, "reduce_scatter_tensor")
    send = np.ascontiguousarray(_array(input, "reduce_scatter_tensor"))
    if send.size != g.size * out.size or send.dtype != out.dtype:
        raise ValueError(f"reduce_scatter_tensor: input {tuple(send.shape)} {send.dtype}, expected "
                         f"{g.size} x {tuple(out.shape)} {out.dtype}")
    return _reduce_scatter_block(g, send, out, done, op, async_op, "reduce_scatter_tensor")


def _reduce_scatter_block(g: Any, send: np.ndarray, out: np.ndarray, done: Any, op: ReduceOp, async_op: bool,
                          name: str) -> Work | None:
    """Part r of ``send`` (world-size parts along dim 0) combined over all ranks into rank r's ``out``."""
    mop = _mpi_op(op, out.dtype, name)

    def finish() -> None:
        _average(out, op, g.size)
        done()

    return _launch(g, name, async_op, lambda: g.comm.Ireduce_scatter_block(send, out, mop), finish)


def barrier(group: Any = None, async_op: bool = False, device_ids: Any = None) -> Work | None:
    """Wait until every rank has reached this call."""
    g = _group(group)
    if g.debug:
        _debug_check(g, "barrier", None)
    if g.backend == "nccl":
        return nccl.barrier(g, async_op)
    return _launch(g, "barrier", async_op, g.comm.Ibarrier, lambda: None)
