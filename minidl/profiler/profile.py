"""``profile`` and ``record_function``: PyTorch's ``torch.profiler`` names on minidl's spans."""

from __future__ import annotations

import enum
import functools
import os
import time
from collections.abc import Callable, Iterable
from typing import Any

from minidl.profiler import instrument, table, trace
from minidl.profiler.instrument import Event


class ProfilerActivity(enum.Enum):
    """Accepted for PyTorch programs (``activities=[ProfilerActivity.CPU]``); minidl times every backend on the
    host clock either way (GPU kernels are asynchronous: see the profiler page)."""

    CPU = "cpu"
    CUDA = "cuda"


class profile:  # noqa: N801 (PyTorch's name)
    """Record every op and backend kernel run inside the block.

    >>> import minidl
    >>> x = minidl.ones(8, requires_grad=True)
    >>> with minidl.profiler.profile() as prof:
    ...     (x * x).sum().backward()
    >>> print(*[e.name for e in prof.events() if e.phase == "forward"])  # then MulBackward, ... in "backward"
    Mul Sum
    >>> print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=5))  # doctest: +SKIP

    ``activities``, ``record_shapes``, ``profile_memory`` and ``with_stack`` are accepted for PyTorch programs;
    shapes and output bytes are always recorded, stacks never.
    """

    def __init__(self, activities: Iterable[ProfilerActivity] | None = None, record_shapes: bool = True,
                 profile_memory: bool = True, with_stack: bool = False, **kwargs: Any) -> None:
        self._events: list[Event] = []
        self._origin_ns = 0
        self._running = False

    def start(self) -> None:
        if not self._running:
            self._events = []
            self._origin_ns = time.perf_counter_ns()
            instrument.add_sink(self._events)
            self._running = True

    def stop(self) -> None:
        if self._running:
            instrument.remove_sink(self._events)
            self._running = False

    def __enter__(self) -> profile:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def events(self) -> list[Event]:
        """Every recorded span (ops, kernels, user ranges), in order of start."""
        return list(self._events)

    def key_averages(self, group_by_input_shape: bool = False) -> table.EventList:
        """The events grouped by name, kind, pass and backend (and input shapes): ``.table()`` prints them."""
        return table.key_averages(self._events, group_by_input_shape)

    def export_chrome_trace(self, path: str | os.PathLike[str]) -> None:
        """Write the Trace Event JSON that ui.perfetto.dev and chrome://tracing open."""
        trace.export_chrome_trace(self._events, self._origin_ns, path)


class record_function:  # noqa: N801 (PyTorch's name)
    """A named range of your own (``with record_function("data"):``), shown around the ops it holds;
    it records nothing when no profiler runs. Also a decorator: ``@record_function("step")``."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._events: list[Event | None] = []

    def __enter__(self) -> record_function:
        self._events.append(instrument.begin(self.name, "user"))
        return self

    def __exit__(self, *exc: object) -> None:
        ev = self._events.pop()
        if ev is not None:
            instrument.end(ev)

    def __call__(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        name = self.name

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with record_function(name):
                return fn(*args, **kwargs)

        return wrapper
