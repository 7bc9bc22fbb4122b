"""``minidl.nn.parallel``: ``DistributedDataParallel`` (one process per rank, over ``minidl.distributed``)."""

from minidl.nn.parallel.distributed import DistributedDataParallel

__all__ = ["DistributedDataParallel"]
