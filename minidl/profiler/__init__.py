"""The profiler: which op and which kernel, on which backend, took the time (``torch.profiler``'s names).

>>> import minidl
>>> x = minidl.ones(8, requires_grad=True)
>>> with minidl.profiler.profile() as prof:
...     with minidl.profiler.record_function("step"):
...         (x * x).sum().backward()
>>> for e in prof.events():
...     print(e.phase, e.kind, e.name)
forward user step
forward op Mul
forward op Sum
backward op autograd.backward
backward op SumBackward
backward op BroadcastTo
backward op MulBackward
backward op Mul
backward op Mul
backward op Add

``prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=20)`` prints PyTorch's table and
``prof.export_chrome_trace("trace.json")`` writes a trace for ui.perfetto.dev. ``MINIDL_LOG=kernels`` in the
environment prints one line per kernel call on stderr (``set_kernel_log(True)`` from code).

Nothing is checked on the hot path when no profiler runs: ``instrument.py`` swaps the timed versions in on
entry and out on exit.
"""

from __future__ import annotations

import os

from minidl.profiler.instrument import Event, is_instrumented, set_kernel_log
from minidl.profiler.profile import ProfilerActivity, profile, record_function
from minidl.profiler.table import EventList, FunctionEventAvg

__all__ = ["Event", "EventList", "FunctionEventAvg", "ProfilerActivity", "is_instrumented", "profile",
           "record_function", "set_kernel_log"]

if "kernels" in os.environ.get("MINIDL_LOG", "").split(","):  # the environment switch, read once at import
    set_kernel_log(True)
