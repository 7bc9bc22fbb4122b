"""Datasets, samplers, collation and the DataLoader: ordering, seeding, batching, the fast path, prefetching."""

import contextvars
import gc
import threading
import time
from collections import namedtuple

import numpy as np
import pytest

import minidl
from minidl.data import DataLoader, Dataset, Subset, TensorDataset, default_collate, random_split, to_tensors
from minidl.data.sampler import BatchSampler, RandomSampler, SequentialSampler, SubsetRandomSampler


class Squares(Dataset):
    """A plain map-style dataset (item by item): sample i is (i as float64 vector, i*i)."""

    def __init__(self, n):
        self.n, self.calls = n, 0

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        self.calls += 1
        return np.full(2, float(i)), i * i


def epoch_labels(loader):
    return [batch[-1].tolist() for batch in loader]


# ---------------------------------------------------------------- datasets
def test_tensor_dataset_items_and_batches():
    x = np.arange(12).reshape(6, 2)
    ds = TensorDataset(x, minidl.tensor([0, 1, 2, 3, 4, 5]))
    assert len(ds) == 6
    xi, yi = ds[4]
    assert xi.tolist() == [8, 9] and int(yi) == 4
    assert ds[-1][0].tolist() == [10, 11]
    with pytest.raises(IndexError, match="index 6 is out of range for a dataset of 6 samples"):
        ds[6]
    xs, ys = ds.get_batch(np.array([5, 0, 5]))
    assert xs.tolist() == [[10, 11], [0, 1], [10, 11]] and ys.tolist() == [5, 0, 5]
    with pytest.raises(ValueError, match=r"same first dimension, got lengths \[6, 5\]"):
        TensorDataset(x, np.arange(5))


def test_transforms_apply_to_items_and_batches_alike():
    ds = TensorDataset(np.arange(6).reshape(3, 2), np.arange(3), transform=lambda b: b * 10,
                       target_transform=lambda b: b + 100)
    assert ds[1][0].tolist() == [20, 30] and int(ds[1][1]) == 101
    xs, ys = ds.get_batch(np.array([2, 1]))
    assert xs.tolist() == [[40, 50], [20, 30]] and ys.tolist() == [102, 101]


def test_subset_and_default_get_batch():
    sq = Squares(10)
    sub = Subset(sq, [7, 2, 9])
    assert len(sub) == 3 and sub[0][1] == 49
    xs, ys = sub.get_batch(np.array([2, 1]))
    assert ys.tolist() == [81, 4] and xs.tolist() == [[9.0, 9.0], [2.0, 2.0]]
    nested = Subset(TensorDataset(np.arange(10)), [9, 8, 7, 6])
    assert Subset(nested, [3, 0]).get_batch(np.array([0, 1]))[0].tolist() == [6, 9]


def test_random_split_is_a_seeded_partition():
    ds = TensorDataset(np.arange(10))
    parts = random_split(ds, [0.33, 0.33, 0.34], generator=minidl.Generator(3))
    assert [len(p) for p in parts] == [4, 3, 3]  # floors 3, 3, 3; the remainder goes to the first
    values = sorted(v for p in parts for v in p.indices.tolist())
    assert values == list(range(10))
    expected = minidl.Generator(3).permutation(10)
    assert parts[0].indices.tolist() == expected[:4].tolist()
    again = random_split(ds, [0.33, 0.33, 0.34], generator=minidl.Generator(3))
    assert [p.indices.tolist() for p in again] == [p.indices.tolist() for p in parts]
    assert [len(p) for p in random_split(ds, [7, 3])] == [7, 3]
    with pytest.raises(ValueError, match="sum to 9, not to the dataset size 10"):
        random_split(ds, [6, 3])
    with pytest.raises(ValueError, match="must lie in"):
        random_split(ds, [0.5, 0.6])


# ---------------------------------------------------------------- samplers
def test_samplers():
    assert list(SequentialSampler(range(3))) == [0, 1, 2]
    assert list(BatchSampler(range(7), 3, drop_last=False)) == [[0, 1, 2], [3, 4, 5], [6]]
    assert list(BatchSampler(range(7), 3, drop_last=True)) == [[0, 1, 2], [3, 4, 5]]
    assert len(BatchSampler(range(7), 3, False)) == 3 and len(BatchSampler(range(7), 3, True)) == 2
    with pytest.raises(ValueError, match="positive integer"):
        BatchSampler(range(7), 0, False)
    s = RandomSampler(range(8), generator=minidl.Generator(5))
    g = minidl.Generator(5)
    assert list(s) == g.permutation(8).tolist() and list(s) == g.permutation(8).tolist()  # epoch 1, epoch 2
    r = RandomSampler(range(3), replacement=True, num_samples=20, generator=minidl.Generator(0))
    drawn = list(r)
    assert len(r) == 20 and len(drawn) == 20 and set(drawn) <= {0, 1, 2} and len(set(drawn)) == 3
    sub = list(SubsetRandomSampler([10, 20, 30], generator=minidl.Generator(0)))
    assert sorted(sub) == [10, 20, 30]


# ---------------------------------------------------------------- collation
def test_collate_dtypes_and_structures():
    Pair = namedtuple("Pair", "image label")
    batch = default_collate([Pair(np.zeros((2, 2), np.uint8), 3), Pair(np.ones((2, 2), np.uint8), 4)])
    assert isinstance(batch, Pair) and batch.image.dtype == np.uint8 and batch.image.shape == (2, 2, 2)
    assert batch.label.dtype == np.int64 and batch.label.tolist() == [3, 4]
    d = default_collate([{"x": 1.5, "ok": True, "name": "a"}, {"x": 2.5, "ok": False, "name": "b"}])
    assert d["x"].dtype == np.float32 and d["x"].tolist() == [1.5, 2.5]
    assert d["ok"].dtype == np.bool_ and d["name"] == ["a", "b"]
    t = to_tensors((np.zeros(2, np.int32), np.zeros(2, np.float16), np.zeros(2, np.uint16), np.zeros(2)))
    assert [a.dtype for a in t] == [np.int64, np.float16, np.int64, np.float32]
    with pytest.raises(ValueError, match="same number of fields"):
        default_collate([(1, 2), (1,)])


# ---------------------------------------------------------------- the loader
def test_sequential_order_batches_and_len():
    ds = TensorDataset(np.arange(20, dtype=np.float64).reshape(10, 2), np.arange(10))
    loader = DataLoader(ds, batch_size=4)
    assert len(loader) == 3 and epoch_labels(loader) == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    x, y = next(iter(loader))
    assert isinstance(x, minidl.Tensor) and x.dtype == np.float32 and y.dtype == np.int64
    assert x.tolist() == [[0, 1], [2, 3], [4, 5], [6, 7]]
    dropped = DataLoader(ds, batch_size=4, drop_last=True)
    assert len(dropped) == 2 and epoch_labels(dropped) == [[0, 1, 2, 3], [4, 5, 6, 7]]


def test_shuffle_is_seeded_and_new_each_epoch():
    ds = TensorDataset(np.arange(10))
    loader = DataLoader(ds, batch_size=5, shuffle=True, generator=minidl.Generator(42))
    g = minidl.Generator(42)
    first, second = epoch_labels(loader), epoch_labels(loader)
    assert sum(first, []) == g.permutation(10).tolist()
    assert sum(second, []) == g.permutation(10).tolist()
    assert first != second
    replay = DataLoader(ds, batch_size=5, shuffle=True, generator=minidl.Generator(42))
    assert epoch_labels(replay) == first
    minidl.manual_seed(7)  # without a generator: the default one, reset by manual_seed
    a = epoch_labels(DataLoader(ds, batch_size=10, shuffle=True))
    minidl.manual_seed(7)
    assert epoch_labels(DataLoader(ds, batch_size=10, shuffle=True)) == a


def test_sampler_batch_sampler_and_argument_checks():
    ds = TensorDataset(np.arange(6))
    assert epoch_labels(DataLoader(ds, batch_size=2, sampler=[5, 3, 1])) == [[5, 3], [1]]
    assert epoch_labels(DataLoader(ds, batch_sampler=[[0, 5], [2]])) == [[0, 5], [2]]
    with pytest.raises(ValueError, match="either sampler or shuffle"):
        DataLoader(ds, sampler=[0], shuffle=True)
    with pytest.raises(ValueError, match="batch_sampler excludes"):
        DataLoader(ds, batch_size=2, batch_sampler=[[0]])


def test_fast_path_fetches_whole_batches():
    class Counting(TensorDataset):
        batches = 0

        def get_batch(self, indices):
            Counting.batches += 1
            return super().get_batch(indices)

        def __getitem__(self, i):
            raise AssertionError("the fast path must not go item by item")

    ds = Counting(np.arange(100), np.arange(100) % 3)
    assert len([b for b in DataLoader(ds, batch_size=32)]) == 4 and Counting.batches == 4


def test_item_path_and_custom_collate():
    sq = Squares(5)
    x, y = next(iter(DataLoader(sq, batch_size=5)))
    assert x.dtype == np.float32 and y.tolist() == [0, 1, 4, 9, 16] and sq.calls == 5
    plain = [(i, -i) for i in range(4)]  # a list is a dataset too (no get_batch)
    assert [b[1].tolist() for b in DataLoader(plain, batch_size=3)] == [[0, -1, -2], [-3]]
    seen = []
    loader = DataLoader(TensorDataset(np.arange(4)), batch_size=2, collate_fn=lambda s: seen.append(s) or len(s))
    assert list(loader) == [2, 2] and [[int(v[0]) for v in s] for s in seen] == [[0, 1], [2, 3]]


def test_prefetch_gives_the_same_batches():
    ds = TensorDataset(np.random.default_rng(0).random((50, 3)), np.arange(50))
    plain = DataLoader(ds, batch_size=8, shuffle=True, generator=minidl.Generator(1))
    ahead = DataLoader(ds, batch_size=8, shuffle=True, generator=minidl.Generator(1), prefetch=True)
    for _ in range(2):
        for (x1, y1), (x2, y2) in zip(plain, ahead, strict=True):
            np.testing.assert_array_equal(x1.numpy(), x2.numpy())
            np.testing.assert_array_equal(y1.numpy(), y2.numpy())


def test_prefetch_passes_errors_context_and_stops_on_break():
    def bad_collate(samples):
        if int(samples[0][0]) >= 4:
            raise ZeroDivisionError("bad sample")
        return len(samples)

    ds = TensorDataset(np.arange(10))
    with pytest.raises(ZeroDivisionError, match="bad sample"):
        list(DataLoader(ds, batch_size=2, collate_fn=bad_collate, prefetch=3))

    var = contextvars.ContextVar("var", default="unset")
    var.set("caller's value")
    assert set(DataLoader(ds, batch_size=5, collate_fn=lambda s: var.get(), prefetch=True)) == {"caller's value"}

    before = threading.active_count()
    for _ in DataLoader(TensorDataset(np.arange(1000)), batch_size=1, prefetch=2):
        break
    gc.collect()
    deadline = time.monotonic() + 5
    while threading.active_count() > before and time.monotonic() < deadline:
        time.sleep(0.01)
    assert threading.active_count() == before
