"""DataLoader(num_workers=N): the same batches as num_workers=0, seeding, errors, timeouts, and no leaks.

Leaks are counted from outside: the child processes of this process (from /proc), its open file
descriptors and the multiprocessing entries of /dev/shm, before and after.
"""

import os
import random
import time

import numpy as np
import pytest

import minidl
from minidl.utils.data import DataLoader, Dataset, IterableDataset, TensorDataset, get_worker_info

pytestmark = pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="counts processes through /proc")


def children() -> set[int]:
    """The pids whose parent is this process (zombies included: a child not joined is a leak)."""
    found = set()
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            if ppid == os.getpid():
                found.add(int(name))
    return found


def shm_entries() -> set[str]:
    """multiprocessing's entries in /dev/shm: shared-memory segments and named semaphores."""
    if not os.path.isdir("/dev/shm"):
        return set()
    return {n for n in os.listdir("/dev/shm") if n.startswith(("psm_", "sem.mp-", "wnsm_"))}


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.fixture
def no_leaks():
    """Fail when a test leaves a child process, a file descriptor or a /dev/shm entry behind."""
    before = (children(), open_fds(), shm_entries())
    yield
    for _ in range(50):  # a queue's feeder thread closes its pipe a moment after the workers are gone
        after = (children(), open_fds(), shm_entries())
        if after[0] <= before[0] and after[1] <= before[1] and after[2] <= before[2]:
            return
        time.sleep(0.02)
    assert after[0] - before[0] == set(), "child processes left behind"
    assert after[1] <= before[1], f"file descriptors: {before[1]} before, {after[1]} after"
    assert after[2] - before[2] == set(), "/dev/shm entries left behind"


class Items(Dataset):
    """Item by item: sample i is ({"x": [i, -i] as float64, "pid": worker pid}, i * i); item 13 may fail."""

    def __init__(self, n=20, fail_at=None, exit_at=None, sleep=0.0):
        self.n, self.fail_at, self.exit_at, self.sleep = n, fail_at, exit_at, sleep

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        if i == self.fail_at:
            raise ValueError(f"no sample {i} here")
        if i == self.exit_at:
            os._exit(3)
        time.sleep(self.sleep)
        return {"x": np.array([i, -i], dtype=np.float64), "pid": os.getpid()}, i * i


def labels(loader):
    return [y.tolist() for _, y in loader]


def test_same_batches_as_in_process_for_two_epochs(no_leaks):
    ds = Items(23)
    kw = dict(batch_size=4, shuffle=True, drop_last=True)
    here = DataLoader(ds, generator=minidl.Generator(5), **kw)
    there = DataLoader(ds, generator=minidl.Generator(5), num_workers=2, **kw)
    for _ in range(2):  # two epochs: the base seed of the workers must not move the shuffling stream
        a, b = list(here), list(there)
        assert [y.tolist() for _, y in a] == [y.tolist() for _, y in b]
        assert len(b) == len(there) == 5  # 23 // 4
        for (xa, _), (xb, _) in zip(a, b):
            assert xb["x"].dtype == xa["x"].dtype == np.float32 and xb["x"].tolist() == xa["x"].tolist()
    pids = {int(p) for x, _ in b for p in x["pid"].tolist()}
    assert len(pids) == 2 and os.getpid() not in pids
    order = minidl.Generator(5).permutation(23)  # hand-computed first epoch
    first = [y.tolist() for _, y in DataLoader(ds, generator=minidl.Generator(5), num_workers=2, **kw)]
    assert first == [[int(i) ** 2 for i in order[k:k + 4]] for k in range(0, 20, 4)]


def test_fast_path_custom_collate_and_no_batching(no_leaks):
    ds = TensorDataset(np.arange(10, dtype=np.float32).reshape(5, 2), np.arange(5))
    batches = list(DataLoader(ds, batch_size=2, num_workers=2, prefetch_factor=1))
    assert [x.tolist() for x, _ in batches] == [[[0, 1], [2, 3]], [[4, 5], [6, 7]], [[8, 9]]]
    x = batches[0][0]
    x.add_(1)  # arrays arrive in writable memory of their own
    assert x.tolist() == [[1, 2], [3, 4]] and ds.arrays[0][0].tolist() == [0, 1]
    pairs = list(DataLoader(ds, batch_size=2, num_workers=2, collate_fn=lambda s: [int(y) for _, y in s]))
    assert pairs == [[0, 1], [2, 3], [4]]
    single = list(DataLoader(ds, batch_size=None, num_workers=2))
    assert len(single) == 5 and single[3][0].tolist() == [6.0, 7.0] and single[3][1].shape == ()


def test_worker_exception_reraised_with_its_traceback(no_leaks):
    with pytest.raises(ValueError) as info:
        for _ in DataLoader(Items(20, fail_at=13), batch_size=4, num_workers=2):
            pass
    message = str(info.value)
    assert "Caught ValueError in DataLoader worker process 1." in message  # batch 3 (items 12-15): worker 1
    assert "Original Traceback (most recent call last):" in message
    assert "in __getitem__" in message and "no sample 13 here" in message


def test_break_and_exception_in_the_loop_leave_nothing(no_leaks):
    loader = DataLoader(Items(200, sleep=0.001), batch_size=2, num_workers=2, prefetch_factor=4)
    for i, _ in enumerate(loader):
        if i == 3:
            break
    with pytest.raises(KeyError):
        for _ in loader:
            raise KeyError("the training step failed")
    it = iter(loader)
    next(it)
    del it  # dropped half way


def test_worker_that_dies_and_timeout(no_leaks):
    with pytest.raises(RuntimeError, match=r"DataLoader worker \(pid \d+\) exited unexpectedly with exit code 3"):
        list(DataLoader(Items(8, exit_at=5), batch_size=2, num_workers=2))
    with pytest.raises(RuntimeError, match="DataLoader timed out after 0.2 seconds"):
        list(DataLoader(Items(4, sleep=1.0), batch_size=2, num_workers=1, timeout=0.2))


class Seeded(Dataset):
    """Each item: (worker id, worker seed, a draw from random, from numpy's global and from minidl's default)."""

    def __len__(self):
        return 8

    def __getitem__(self, i):
        info = get_worker_info()
        return np.array([info.id, info.seed % 1000, random.random(), np.random.random(),
                         float(minidl.rand(1).item()), i])


def test_worker_info_seeding_and_init_fn(no_leaks):
    assert get_worker_info() is None

    def run():
        minidl.manual_seed(7)
        return np.concatenate([b.numpy() for b in DataLoader(Seeded(), batch_size=2, num_workers=2)])

    a, b = run(), run()
    np.testing.assert_array_equal(a, b)  # reproducible with the seed
    assert a[:, 0].tolist() == [0, 0, 1, 1, 0, 0, 1, 1]  # batch k by worker k % 2
    base = int(a[0, 1]) % 1000
    assert all(int(s) == (base + int(w)) % 1000 for w, s in a[:, :2])  # seed = base_seed + worker_id
    w0, w1 = a[a[:, 0] == 0], a[a[:, 0] == 1]
    assert not np.isin(w0[:, 2:5], w1[:, 2:5]).any()  # the workers draw different numbers from each source
    minidl.manual_seed(8)
    assert not np.array_equal(np.concatenate([b.numpy() for b in DataLoader(Seeded(), batch_size=2,
                                                                            num_workers=2)])[:, 2:5], a[:, 2:5])

    def init(worker_id):
        random.seed(1000 + worker_id)

    c = np.concatenate([b.numpy() for b in DataLoader(Seeded(), batch_size=2, num_workers=2, worker_init_fn=init)])
    assert c[0, 2] == random.Random(1000).random() and c[2, 2] == random.Random(1001).random()

    def broken(worker_id):
        raise OSError(f"worker {worker_id} cannot start")

    with pytest.raises(OSError, match="worker 0 cannot start"):
        list(DataLoader(Seeded(), batch_size=2, num_workers=2, worker_init_fn=broken))


def test_persistent_workers_keep_their_processes(no_leaks):
    loader = DataLoader(Items(12), batch_size=3, num_workers=2, persistent_workers=True)
    pids = [{int(p) for x, _ in loader for p in x["pid"].tolist()} for _ in range(2)]
    assert pids[0] == pids[1] and len(pids[0]) == 2
    for i, _ in enumerate(loader):  # stop early: the next epoch drops the answers in flight
        if i == 0:
            break
    assert labels(loader) == [[0, 1, 4], [9, 16, 25], [36, 49, 64], [81, 100, 121]]
    assert {int(p) for x, _ in loader for p in x["pid"].tolist()} == pids[0]
    del loader  # collecting the loader stops its workers


class Stream(IterableDataset):
    """0..n-1, shared out between the workers in contiguous blocks (PyTorch's documented recipe)."""

    def __init__(self, n):
        self.n = n

    def __iter__(self):
        info = get_worker_info()
        if info is None:
            return iter(range(self.n))
        per = -(-self.n // info.num_workers)
        return iter(range(info.id * per, min(self.n, (info.id + 1) * per)))


def test_iterable_dataset_in_workers(no_leaks):
    assert [b.tolist() for b in DataLoader(Stream(7), batch_size=2)] == [[0, 1], [2, 3], [4, 5], [6]]
    # worker 0 streams 0..3, worker 1 streams 4..6; batches alternate between them, as in PyTorch
    got = [b.tolist() for b in DataLoader(Stream(7), batch_size=2, num_workers=2)]
    assert got == [[0, 1], [4, 5], [2, 3], [6]]
    got = [b.tolist() for b in DataLoader(Stream(7), batch_size=2, num_workers=2, drop_last=True)]
    assert got == [[0, 1], [4, 5], [2, 3]]
    loader = DataLoader(Stream(5), batch_size=None, num_workers=2, persistent_workers=True)
    assert [int(v) for v in loader] == [0, 3, 1, 4, 2] == [int(v) for v in loader]


def test_argument_checks():
    ds = TensorDataset(np.arange(4))
    with pytest.raises(ValueError, match="num_workers option should be non-negative"):
        DataLoader(ds, num_workers=-1)
    with pytest.raises(ValueError, match="persistent_workers option needs num_workers > 0"):
        DataLoader(ds, persistent_workers=True)
    with pytest.raises(ValueError, match="prefetch_factor option could only be specified in multiprocessing"):
        DataLoader(ds, prefetch_factor=2)
    with pytest.raises(ValueError, match="timeout option should be non-negative"):
        DataLoader(ds, timeout=-1)
    with pytest.raises(ValueError, match="prefetch .a background thread. is for num_workers=0"):
        DataLoader(ds, num_workers=1, prefetch=True)
    loader = DataLoader(ds, num_workers=1, pin_memory=True, multiprocessing_context="fork", in_order=False)
    assert loader.pin_memory and loader.prefetch_factor == 2
