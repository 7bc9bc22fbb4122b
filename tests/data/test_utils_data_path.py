"""minidl.utils.data under torch.utils.data's path, and the semantics it shares with PyTorch."""

import importlib
from collections import namedtuple

import numpy as np
import pytest

import minidl
import minidl.data
from minidl.utils.data import (
    ChainDataset,
    ConcatDataset,
    DataLoader,
    IterableDataset,
    TensorDataset,
    WeightedRandomSampler,
    default_collate,
    default_convert,
)


def test_same_objects_under_both_paths():
    assert minidl.utils.data.DataLoader is minidl.data.DataLoader  # an attribute after `import minidl`
    for name in minidl.data.__all__:
        assert getattr(minidl.utils.data, name) is getattr(minidl.data, name)
    for module, names in {"dataloader": ["DataLoader", "default_collate", "get_worker_info"],
                          "dataset": ["Dataset", "TensorDataset", "Subset", "random_split", "ConcatDataset"],
                          "sampler": ["Sampler", "SubsetRandomSampler", "WeightedRandomSampler", "BatchSampler"],
                          }.items():
        sub = importlib.import_module(f"minidl.utils.data.{module}")
        assert all(getattr(sub, n) is getattr(minidl.data, n) for n in names)


def test_concat_chain_and_weighted_sampler_by_hand():
    a, b = TensorDataset(np.arange(3)), TensorDataset(np.arange(10, 12))
    both = a + b
    assert isinstance(both, ConcatDataset) and len(both) == 5 and both.cumulative_sizes == [3, 5]
    assert [int(both[i][0]) for i in range(-5, 5)] == [0, 1, 2, 10, 11] * 2
    with pytest.raises(IndexError):
        both[5]
    assert [b.tolist() for b, in DataLoader(both, batch_size=2)] == [[0, 1], [2, 10], [11]]

    class Count(IterableDataset):
        def __init__(self, n):
            self.n = n

        def __iter__(self):
            return iter(range(self.n))

        def __len__(self):
            return self.n

    chained = Count(2) + Count(3)
    assert isinstance(chained, ChainDataset) and list(chained) == [0, 1, 0, 1, 2] and len(chained) == 5
    s = WeightedRandomSampler([0.0, 1.0, 0.0, 3.0], num_samples=400, generator=minidl.Generator(0))
    drawn = list(s)
    assert len(s) == 400 and set(drawn) == {1, 3} and 0.65 < drawn.count(3) / 400 < 0.85
    assert sorted(WeightedRandomSampler([1, 1, 5], 3, replacement=False, generator=minidl.Generator(1))) == [0, 1, 2]
    with pytest.raises(ValueError, match="num_samples should be a positive integer"):
        WeightedRandomSampler([1.0], 0)


def test_default_convert_keeps_structure_and_does_not_stack():
    out = default_convert({"x": np.zeros(2), "n": 3, "s": "a", "t": (np.int32(4), [np.ones(1, np.uint8)])})
    assert out["x"].dtype == np.float32 and out["x"].shape == (2,) and out["n"] == 3 and out["s"] == "a"
    assert out["t"][0].shape == () and out["t"][0].dtype == np.int64 and out["t"][1][0].dtype == np.uint8


torch = pytest.importorskip("torch")
tud = pytest.importorskip("torch.utils.data")


def values(batch):
    """Nested plain values of a minidl or a torch batch, for comparison."""
    if isinstance(batch, dict):
        return {k: values(v) for k, v in batch.items()}
    if isinstance(batch, list | tuple):
        return [values(v) for v in batch]
    if hasattr(batch, "tolist"):
        return batch.tolist()
    return batch


Point = namedtuple("Point", "x y")


class Samples:
    """Map-style samples of every structure default_collate handles: dict, tuple, namedtuple, numbers."""

    def __init__(self, n=7):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        return {"a": np.array([i, 2 * i], dtype=np.float32), "b": (i, float(i) / 2),
                "p": Point(np.int64(i), np.array([i], dtype=np.int64))}


@pytest.mark.parametrize("kw", [dict(batch_size=3), dict(batch_size=3, drop_last=True), dict(batch_size=None),
                                dict(batch_size=7), dict(batch_size=2, num_workers=2)])
def test_batches_and_lengths_match_pytorch(kw):
    ds = Samples()
    mine, theirs = DataLoader(ds, **kw), tud.DataLoader(ds, **kw)
    assert len(mine) == len(theirs)
    got, expected = [values(b) for b in mine], [values(b) for b in theirs]
    assert got == expected
    batch = next(iter(mine))
    assert isinstance(batch["p"], Point) and isinstance(batch["b"], tuple if kw["batch_size"] is None else list |
                                                        tuple)


class TorchStream(tud.IterableDataset):
    def __iter__(self):
        info = tud.get_worker_info()
        start, step = (0, 1) if info is None else (info.id, info.num_workers)
        return iter(range(start, 9, step))


class MiniStream(IterableDataset):
    def __iter__(self):
        info = minidl.utils.data.get_worker_info()
        start, step = (0, 1) if info is None else (info.id, info.num_workers)
        return iter(range(start, 9, step))


@pytest.mark.parametrize("kw", [dict(batch_size=4), dict(batch_size=4, drop_last=True), dict(batch_size=None),
                                dict(batch_size=2, num_workers=2), dict(batch_size=2, num_workers=2, drop_last=True)])
def test_iterable_dataset_order_matches_pytorch(kw):
    got = [values(b) for b in DataLoader(MiniStream(), **kw)]
    assert got == [values(b) for b in tud.DataLoader(TorchStream(), **kw)]


def test_default_collate_matches_pytorch_apart_from_float64():
    samples = [Samples()[i] for i in range(3)]
    assert values(default_collate(samples)) == values(tud.default_collate(samples))
    # the one documented difference: float64 arrays become float32 (minidl's default float dtype)
    assert default_collate([np.zeros(2)]).dtype == np.float32
    assert tud.default_collate([np.zeros(2)]).dtype == torch.float64
