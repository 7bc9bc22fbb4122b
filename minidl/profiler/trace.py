"""``prof.export_chrome_trace(path)``: the Trace Event format that Perfetto (ui.perfetto.dev) and
chrome://tracing open.

Every span becomes one *complete event* (``"ph": "X"``) with ``ts`` (start) and ``dur`` in microseconds
from the profiler's start, the process id as ``pid`` and the thread's id as ``tid``; spans of one thread
that nest in time (a kernel inside its op, the op inside a backward node) are drawn nested. ``cat`` is
the kind (op, kernel, user) and ``args`` carry the backend, pass, input shapes, dtype and output bytes.
Format: https://docs.google.com/document/d/1CvAClvFfyA5R-PhYUmn5OOQtYMH4h6I0nSsKchNAySU
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from minidl.profiler.instrument import Event


def trace_events(events: list[Event], origin_ns: int) -> list[dict[str, Any]]:
    """The complete events (``ph`` "X") of the closed spans, in order of start."""
    pid = os.getpid()
    out = []
    for ev in sorted((e for e in events if e.end_ns), key=lambda e: (e.start_ns, e.depth)):
        out.append({
            "name": ev.name, "cat": ev.kind, "ph": "X", "pid": pid, "tid": ev.tid,
            "ts": (ev.start_ns - origin_ns) / 1e3, "dur": (ev.end_ns - ev.start_ns) / 1e3,
            "args": {"backend": ev.backend, "pass": ev.phase, "input_shapes": [list(s) for s in ev.shapes],
                     "dtype": ev.dtype, "bytes": ev.bytes},
        })
    return out


def export_chrome_trace(events: list[Event], origin_ns: int, path: str | os.PathLike[str]) -> None:
    """Write the trace as JSON to ``path`` (a ``.json`` file; gzip it yourself for large traces)."""
    trace = {"traceEvents": trace_events(events, origin_ns), "displayTimeUnit": "ms"}
    Path(path).write_text(json.dumps(trace), encoding="utf-8")
