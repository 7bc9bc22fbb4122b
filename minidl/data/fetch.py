"""Making one batch: the code a ``DataLoader`` runs, in the main process or in a worker, alike.

A map-style dataset is asked for the indices the batch sampler chose; an iterable dataset is asked
for its next ``batch_size`` items. With ``batch_size=None`` (no automatic batching) each sample is
converted on its own (``default_convert``) instead of stacked.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import islice
from typing import Any

import numpy as np

from minidl.data.collate import default_collate, to_tensors

__all__ = ["BatchSpec", "IterableFetcher", "fetch_map"]


@dataclass
class BatchSpec:
    """What it takes to make a batch (sent to each worker process, so it must pickle under ``spawn``)."""

    dataset: Any
    collate_fn: Callable[[Any], Any]
    auto_collation: bool  # False when batch_size is None: one sample at a time
    batch_size: int | None
    drop_last: bool
    iterable: bool


def fetch_map(spec: BatchSpec, indices: Any) -> Any:
    """The batch of a map-style dataset at ``indices`` (one index without automatic batching)."""
    if not spec.auto_collation:
        return spec.collate_fn(spec.dataset[indices])
    if spec.collate_fn is default_collate:
        get_batch = getattr(spec.dataset, "get_batch", None)
        if get_batch is not None:  # the fast path: the whole batch at once (default_collate's result)
            return to_tensors(get_batch(np.asarray(indices, dtype=np.int64)))
    return spec.collate_fn([spec.dataset[i] for i in indices])


class IterableFetcher:
    """Batches from ``iter(dataset)``: ``next_batch()`` raises StopIteration when the stream ends."""

    def __init__(self, spec: BatchSpec) -> None:
        self.spec = spec
        self.items: Iterator[Any] = iter(spec.dataset)

    def next_batch(self) -> Any:
        spec = self.spec
        if not spec.auto_collation:
            return spec.collate_fn(next(self.items))
        samples = list(islice(self.items, spec.batch_size))
        if not samples or (spec.drop_last and len(samples) < spec.batch_size):  # type: ignore[operator]
            raise StopIteration
        return spec.collate_fn(samples)
