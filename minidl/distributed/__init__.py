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

Not yet here (issue 19): the ``nccl`` backend, ``new_group``, and a timeout that turns a dead rank into
an error (a rank that dies mid-collective leaves the others waiting; ``mpiexec`` ends the job when a
rank exits with an error).
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
    ReduceOp,
    Work,
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
    "Backend", "ReduceOp", "Work", "all_gather", "all_gather_into_tensor", "all_reduce", "barrier", "broadcast",
    "destroy_process_group", "gather", "get_backend", "get_rank", "get_world_size", "init_process_group",
    "is_available", "is_initialized", "is_mpi_available", "is_nccl_available", "reduce", "reduce_scatter",
    "reduce_scatter_tensor", "scatter",
]
