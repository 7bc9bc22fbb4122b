"""The ``nccl`` backend's logic without a GPU, under ``mpiexec -n N``: ``python nccl_worker.py``.

A stand-in ``cupy`` (NumPy underneath) replaces CuPy. Its ``cupy.cuda.nccl.NcclCommunicator`` checks every
call against the signature of cupy's wrapper (cupy_backends/cuda/libs/nccl.pyx): the number of arguments,
that pointers, counts, datatypes, ops, roots and streams are Python ints, that the datatype and op are
NCCL's constants for the array, that the stream is the *current* stream, and that the unique id is 128
small ints, the same on every rank. It then does the collective over MPI on the memory the pointers
name, so the results are checked too. Rank 0 prints ``ok nccl on N ranks``.
"""

import ctypes
import sys
import types

import numpy as np
from mpi4py import MPI

NCCL = {"NCCL_INT8": 0, "NCCL_UINT8": 1, "NCCL_INT32": 2, "NCCL_UINT32": 3, "NCCL_INT64": 4, "NCCL_UINT64": 5,
        "NCCL_FLOAT16": 6, "NCCL_FLOAT32": 7, "NCCL_FLOAT64": 8, "NCCL_SUM": 0, "NCCL_PROD": 1, "NCCL_MAX": 2,
        "NCCL_MIN": 3, "NCCL_AVG": 4}
DTYPES = {0: np.int8, 1: np.uint8, 2: np.int32, 4: np.int64, 6: np.float16, 7: np.float32, 8: np.float64}
OPS = {0: MPI.SUM, 1: MPI.PROD, 2: MPI.MAX, 3: MPI.MIN, 4: MPI.SUM}
STREAM_PTR = 0x5EED
CALLS = []


class DeviceArray(np.ndarray):
    """A NumPy array that answers ``.data.ptr`` as a CuPy array does."""

    @property
    def data(self):
        return types.SimpleNamespace(ptr=self.ctypes.data)


def device(a):
    return np.ascontiguousarray(a).view(DeviceArray)


def at(ptr, count, datatype):
    """The ``count`` elements of ``datatype`` at address ``ptr`` (what NCCL would read or write)."""
    dtype = np.dtype(DTYPES[datatype])
    buf = (ctypes.c_char * (count * dtype.itemsize)).from_address(ptr)
    return np.frombuffer(buf, dtype=dtype)


def ints(name, *args):
    for i, a in enumerate(args):
        assert type(a) is int, f"{name} argument {i}: {type(a).__name__}, expected int (cupy's intptr_t/size_t/int)"


class NcclCommunicator:
    def __init__(self, ndev, commId, rank):  # noqa: N803 (cupy's names)
        ints("NcclCommunicator", ndev, rank)
        assert type(commId) is tuple and len(commId) == 128 and all(-128 <= c < 128 for c in commId), commId
        world = MPI.COMM_WORLD
        assert world.allgather(commId) == [commId] * world.Get_size(), "ranks got different unique ids"
        assert ndev == world.Get_size() and rank == world.Get_rank()
        self.comm = world.Dup()

    def _check(self, name, datatype, stream, op=None):
        assert datatype in DTYPES, f"{name}: datatype {datatype}"
        assert op is None or op in OPS, f"{name}: op {op}"
        assert stream == STREAM_PTR, f"{name}: stream {stream:#x}, not the current stream's {STREAM_PTR:#x}"
        CALLS.append(name)

    def _reduce(self, op, buf):
        if op == NCCL["NCCL_AVG"]:
            buf /= self.comm.Get_size()

    def allReduce(self, sendbuf, recvbuf, count, datatype, op, stream):  # noqa: N802
        ints("allReduce", sendbuf, recvbuf, count, datatype, op, stream)
        self._check("allReduce", datatype, stream, op)
        recv = at(recvbuf, count, datatype)
        send = MPI.IN_PLACE if sendbuf == recvbuf else at(sendbuf, count, datatype)
        self.comm.Allreduce(send, recv, OPS[op])
        self._reduce(op, recv)

    def reduce(self, sendbuf, recvbuf, count, datatype, op, root, stream):
        ints("reduce", sendbuf, recvbuf, count, datatype, op, root, stream)
        self._check("reduce", datatype, stream, op)
        buf = at(sendbuf, count, datatype)
        mine = self.comm.Get_rank() == root
        self.comm.Reduce(MPI.IN_PLACE if mine else buf, buf if mine else None, OPS[op], root=root)
        if mine:
            self._reduce(op, buf)

    def broadcast(self, sendbuff, recvbuff, count, datatype, root, stream):
        ints("broadcast", sendbuff, recvbuff, count, datatype, root, stream)
        self._check("broadcast", datatype, stream)
        self.comm.Bcast(at(recvbuff, count, datatype), root=root)

    def allGather(self, sendbuf, recvbuf, count, datatype, stream):  # noqa: N802
        ints("allGather", sendbuf, recvbuf, count, datatype, stream)
        self._check("allGather", datatype, stream)
        self.comm.Allgather(at(sendbuf, count, datatype).copy(), at(recvbuf, count * self.comm.Get_size(), datatype))

    def reduceScatter(self, sendbuf, recvbuf, recvcount, datatype, op, stream):  # noqa: N802
        ints("reduceScatter", sendbuf, recvbuf, recvcount, datatype, op, stream)
        self._check("reduceScatter", datatype, stream, op)
        recv = at(recvbuf, recvcount, datatype)
        self.comm.Reduce_scatter_block(at(sendbuf, recvcount * self.comm.Get_size(), datatype).copy(), recv, OPS[op])
        self._reduce(op, recv)

    def destroy(self):
        CALLS.append("destroy")


def install_stand_in():
    used = []
    nccl = types.ModuleType("cupy.cuda.nccl")
    nccl.__dict__.update(NCCL, available=True, NcclCommunicator=NcclCommunicator,
                         get_unique_id=lambda: tuple(int(c) for c in np.random.default_rng().integers(-128, 128, 128)))
    event = types.SimpleNamespace(record=lambda stream: None, done=True)
    cuda = types.ModuleType("cupy.cuda")
    cuda.nccl = nccl
    cuda.runtime = types.SimpleNamespace(getDeviceCount=lambda: 2)
    cuda.Device = lambda i: types.SimpleNamespace(use=lambda: used.append(i))
    cuda.get_current_stream = lambda: types.SimpleNamespace(ptr=STREAM_PTR)
    cuda.Event = lambda block=False, disable_timing=False: event
    cupy = types.ModuleType("cupy")
    cupy.cuda, cupy.ndarray, cupy.float32 = cuda, DeviceArray, np.float32
    cupy.empty = lambda shape, dtype=None: device(np.empty(shape, dtype=dtype))
    cupy.zeros = lambda shape, dtype=None: device(np.zeros(shape, dtype=dtype))
    cupy.stack = lambda arrays: device(np.stack(arrays))
    cupy.ascontiguousarray = device
    sys.modules.update({"cupy": cupy, "cupy.cuda": cuda, "cupy.cuda.nccl": nccl})
    return used


def main():
    used = install_stand_in()
    import minidl
    import minidl.distributed as dist
    from minidl.tensor import Tensor

    assert dist.is_nccl_available()
    dist.init_process_group("nccl")
    r, n = dist.get_rank(), dist.get_world_size()
    assert dist.get_backend() == "nccl" and used == [r % 2]  # LOCAL_RANK modulo the 2 stand-in GPUs
    numpy_backend = minidl.tensor([0.0]).backend

    def t(a):
        return Tensor._wrap(device(a), numpy_backend, False)

    ranks = np.arange(n, dtype=np.float64)
    for dtype in (np.float32, np.float64):
        for op, expected in [(dist.ReduceOp.SUM, ranks.sum() + n), (dist.ReduceOp.AVG, ranks.mean() + 1),
                             (dist.ReduceOp.MAX, n), (dist.ReduceOp.MIN, 1),
                             (dist.ReduceOp.PRODUCT, np.prod(ranks + 1))]:
            x = t(np.full((2, 3), r + 1, dtype=dtype))
            version = x._version
            work = dist.all_reduce(x, op=op, async_op=True)
            assert work.wait() and work.is_completed() and x._version == version + 1
            np.testing.assert_allclose(x.array, np.full((2, 3), expected), rtol=1e-6, err_msg=f"{op} {dtype}")
    i = t(np.arange(4, dtype=np.int64) * (r + 1))
    dist.all_reduce(i)
    assert i.array.tolist() == (np.arange(4) * (n * (n + 1) // 2)).tolist()

    x = t(np.full(3, float(r)))
    dist.broadcast(x, src=n - 1)
    assert (x.array == n - 1).all()
    x = t(np.full(2, float(r + 1)))
    dist.reduce(x, dst=0)
    assert (x.array == (ranks.sum() + n if r == 0 else r + 1)).all()

    mine = t(np.array([r, 10 * r], dtype=np.float64))
    out = [t(np.zeros(2)) for _ in range(n)]
    dist.all_gather(out, mine)
    assert np.array([o.array for o in out]).tolist() == [[k, 10 * k] for k in range(n)]
    big = t(np.zeros(2 * n))
    dist.all_gather_into_tensor(big, mine)
    assert big.array.tolist() == np.array([[k, 10 * k] for k in range(n)]).ravel().tolist()

    inputs = [t(np.full(2, float(10 * r + k))) for k in range(n)]
    out = t(np.zeros(2))
    dist.reduce_scatter(out, inputs)
    assert (out.array == 10 * ranks.sum() + n * r).all()
    out = t(np.zeros(2))
    dist.reduce_scatter_tensor(out, t(np.concatenate([x.array for x in inputs])), op=dist.ReduceOp.AVG)
    np.testing.assert_allclose(out.array, np.full(2, 10 * ranks.mean() + r))
    dist.barrier()

    for call, error, match in [
        (lambda: dist.all_reduce(minidl.ones(2)), TypeError, "GPU tensors"),
        (lambda: dist.all_reduce(Tensor._wrap(device(np.ones((2, 3)))[:, :2], numpy_backend, False)), ValueError,
         "contiguous"),
        (lambda: dist.all_reduce(t(np.ones(2, dtype=np.complex64))), TypeError, "NCCL has no complex64"),
        (lambda: dist.gather(mine, None), NotImplementedError, "NCCL has no gather"),
        (lambda: dist.all_gather_into_tensor(t(np.zeros(3)), mine), ValueError, "all_gather_into_tensor"),
    ]:
        try:
            call()
        except error as e:
            assert match in str(e), str(e)
        else:
            raise AssertionError(f"no {error.__name__} ({match})")
    dist.destroy_process_group()
    assert CALLS[-1] == "destroy" and {"allReduce", "reduce", "broadcast", "allGather", "reduceScatter"} <= set(CALLS)
    if r == 0:
        print(f"ok nccl on {n} ranks: {len(CALLS)} calls checked", flush=True)


if __name__ == "__main__":
    main()
