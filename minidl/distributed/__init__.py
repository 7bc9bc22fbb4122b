"""``minidl.distributed``: process groups and collectives on Tensors, with PyTorch's names and semantics.

One process per rank, started by MPI's launcher (the ``mpiexec`` that the ``dist`` extra puts next to
the venv's Python: ``pip install "minidl[dist]"``). Every collective works on the tensor's raw array in
place, through MPI's buffer interface (arrays are never pickled); ``async_op=True`` returns a ``Work``
whose ``wait()`` completes it::

    # mpiexec -n 2 python train.py
    import minidl, minidl.distributed as dist
    dist.init_process_group(backend="mpi")
    t = minidl.ones(3) * (dist.get_rank() + 1)
    dist.all_reduce(t, op=dist.ReduceOp.SUM)      # t is [3., 3., 3.] on both ranks
    dist.destroy_process_group()

Start the ranks with ``mpiexec -n N python train.py`` or with minidl's launcher
``python -m minidl.distributed.run -n N train.py`` (torchrun's role: it also sets ``RANK``, ``WORLD_SIZE``,
``LOCAL_RANK``, ``MASTER_ADDR``... and turns an uncaught exception on one rank into the end of the job).
A collective that does not complete within ``init_process_group(timeout=...)`` raises
``DistBackendError``. ``init_process_group("nccl")`` runs the same collectives on GPU tensors (the cupy
backend) through ``cupy.cuda.nccl``, on the current CUDA stream (``minidl/distributed/nccl.py``).
Not here: ``new_group``.
"""

from minidl.distributed.collectives import (
    all_gather,
    all_gather_into_tensor,
    all_reduce,
    barrier,
    broadcast,
    gather,
    reduce,
    reduce_scatter,
    reduce_scatter_tensor,
    scatter,
)
from minidl.distributed.group import (
    Backend,
    DistBackendError,
    ReduceOp,
    Work,
    default_pg_timeout,
    destroy_process_group,
    get_backend,
    get_rank,
    get_world_size,
    init_process_group,
    is_available,
    is_initialized,
    is_mpi_available,
    is_nccl_available,
)

__all__ = [
    "Backend", "DistBackendError", "ReduceOp", "Work", "all_gather", "all_gather_into_tensor", "all_reduce",
    "barrier", "broadcast", "default_pg_timeout", "destroy_process_group", "gather", "get_backend", "get_rank",
    "get_world_size", "init_process_group", "is_available", "is_initialized", "is_mpi_available",
    "is_nccl_available", "reduce", "reduce_scatter", "reduce_scatter_tensor", "scatter",
]
