"""asv: one full training step (forward, loss, backward, optimizer update) of each workload W1-W5
(``workloads.py``: the seed programs' models, float32, fixed random data) x every backend.

``time_step`` is the dashboard's step time per backend; ``peakmem_step`` the process's peak memory
around a step (asv's measure: the whole process's high-water mark, so it includes the library and
the data; ``peak_memory.py`` isolates the step itself and compares it with PyTorch's).
Backends that are not installed are skipped (NotImplementedError in setup). The step ends with
``loss.item()``, which waits for a GPU backend, so GPU timings include the whole step.
"""

from __future__ import annotations

from minidl.backends import BackendUnavailableError, get_backend, known

from .workloads import WORKLOADS, minidl_step


class TrainingStep:
    params = (list(WORKLOADS), known())
    param_names = ("workload", "backend")
    timeout = 300

    def setup(self, workload: str, backend: str) -> None:
        try:
            get_backend(backend)
        except BackendUnavailableError as e:
            raise NotImplementedError(str(e)) from e
        self.step = minidl_step(workload, backend)
        self.step()  # warm-up: JIT compilation (numba), the allocator's first requests

    def time_step(self, workload: str, backend: str) -> None:
        self.step()

    def peakmem_step(self, workload: str, backend: str) -> None:
        self.step()
