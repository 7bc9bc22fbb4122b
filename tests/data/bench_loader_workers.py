"""Time DataLoader(num_workers=0) against num_workers=2 on a loader whose per-sample transform costs ~1 ms.

Run: ``OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 NUMBA_THREADING_LAYER=workqueue .venv/bin/python
tests/data/bench_loader_workers.py``. Not a test (pytest does not collect it): speed is measured, never
asserted. Rounds alternate between the settings; each reports the median epoch time and its spread.
"""

import statistics
import sys
import time

import numpy as np

from minidl.utils.data import DataLoader, Dataset


class Expensive(Dataset):
    """256 images of 3x32x32; each item runs a transform of about 1 ms (repeated small FFT filtering)."""

    def __init__(self, n: int = 256, repeats: int = 5) -> None:
        self.images = np.random.default_rng(0).random((n, 3, 32, 32), dtype=np.float32)
        self.repeats = repeats

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int):
        x = self.images[i]
        for _ in range(self.repeats):  # a stand-in for decoding and augmenting one image
            x = np.fft.irfft2(np.fft.rfft2(x) * 0.999, s=x.shape[-2:]).astype(np.float32)
        return x, i % 10


def epoch_time(loader) -> float:
    start = time.perf_counter()
    for _ in loader:
        pass
    return time.perf_counter() - start


def main(rounds: int = 5) -> None:
    ds = Expensive()
    start = time.perf_counter()
    for i in range(50):
        ds[i]
    per_item = (time.perf_counter() - start) / 50
    loaders = {w: DataLoader(ds, batch_size=32, num_workers=w, persistent_workers=w > 0) for w in (0, 2)}
    for loader in loaders.values():
        epoch_time(loader)  # warm up (starts the persistent workers)
    times: dict[int, list[float]] = {0: [], 2: []}
    for _ in range(rounds):
        for w, loader in loaders.items():
            times[w].append(epoch_time(loader))
    print(f"transform per sample: {per_item * 1e3:.2f} ms; {len(ds)} samples, batches of 32, {rounds} epochs each")
    for w, ts in times.items():
        print(f"num_workers={w}: median {statistics.median(ts):.3f} s per epoch (min {min(ts):.3f}, max {max(ts):.3f})")
    print(f"speed-up: {statistics.median(times[0]) / statistics.median(times[2]):.2f}x")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5)
