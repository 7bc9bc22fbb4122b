"""asv: one full training step (forward, loss, backward, optimizer update) of each workload W1-W5
(``workloads.py``: the seed programs' models, float32, fixed random data) x every installed backend.

``time_step`` is the dashboard's step time per backend. ``track_step_peak_mib`` is the memory of the
step alone, measured as ``peak_memory.py`` does: in a fresh process, after a warm-up step (JIT
compilation, lazy set-up) whose memory is handed back, the high-water mark of three steps above the
resident memory with the model and data built. (asv's own ``peakmem_`` is the whole process's peak,
LLVM's compilation of the Numba kernels included: it read numpy 54 MB against numba 177 MB on W5.)
Only installed backends are parameters (``minidl.backends.available()``). The step ends with
``loss.item()``, which waits for a GPU backend, so GPU timings include the whole step.
"""

from __future__ import annotations

from minidl.backends import BackendUnavailableError, available, get_backend

from .peak_memory import run_child
from .workloads import WORKLOADS, minidl_step


class TrainingStep:
    params = (list(WORKLOADS), available())
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


class StepMemory:
    """The step's own peak memory (MiB), a fresh process per figure (``peak_memory.run_child``)."""

    params = (list(WORKLOADS), [b for b in available() if not get_backend(b).is_gpu])
    param_names = ("workload", "backend")
    timeout = 300

    def track_step_peak_mib(self, workload: str, backend: str) -> float:
        result = run_child(workload, backend)
        if result is None:
            raise RuntimeError(f"peak_memory.run_child({workload!r}, {backend!r}) failed (its stderr is above)")
        return result["step_peak_mib"]

    track_step_peak_mib.unit = "MiB"
