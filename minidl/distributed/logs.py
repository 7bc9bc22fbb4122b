"""What ``minidl.train.fit`` needs under ``DistributedDataParallel``: is this rank 0, and logs averaged
over the ranks.

Each rank computes its epoch's loss and metrics over the samples it saw; the job's value is their mean
weighted by each rank's sample count, ``sum_r n_r * value_r / sum_r n_r``, which is exactly the value over
all samples for every mean-over-samples metric (loss, accuracy, top-k accuracy, MSE, MAE). Outside a
process group of more than one rank both functions change nothing.
"""

from __future__ import annotations

import math

import numpy as np

from minidl.backends import get_backend
from minidl.distributed.collectives import all_reduce
from minidl.distributed.group import get_backend as get_backend_name
from minidl.distributed.group import get_rank, get_world_size, is_initialized
from minidl.tensor import Tensor

__all__ = ["average_logs", "is_rank_zero", "world_size"]


def world_size() -> int:
    """The default group's size, 1 when ``init_process_group`` has not been called."""
    return get_world_size() if is_initialized() else 1


def is_rank_zero() -> bool:
    """True on rank 0, and in a process that is not part of a group (progress, files: rank 0 writes them)."""
    return not is_initialized() or get_rank() == 0


def average_logs(logs: dict[str, float], count: int) -> dict[str, float]:
    """``logs`` (values over this rank's ``count`` samples) averaged over the ranks, weighted by the counts."""
    if world_size() == 1:
        return logs
    keys = list(logs)
    values = np.array([0.0 if count == 0 or math.isnan(logs[k]) else logs[k] * count for k in keys] + [count],
                      dtype=np.float64)
    # a host buffer for mpi, a device buffer for nccl (which only reduces GPU memory)
    t = Tensor(values, backend=get_backend("cupy" if get_backend_name() == "nccl" else "numpy"))
    all_reduce(t)
    values = np.array(t.tolist())
    total = values[-1]
    return {k: float(values[i] / total) if total else math.nan for i, k in enumerate(keys)}
