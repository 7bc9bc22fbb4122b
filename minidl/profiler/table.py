"""``prof.key_averages()``: the events grouped by name (and pass, backend, input shapes), and PyTorch's table.

Self time is the time spent in a span itself, not in the spans nested in it (an op's self time excludes
its kernels); total time includes them. Percentages are of the self time of every event, which adds up
to the time covered by the outermost spans.
"""

from __future__ import annotations

from collections.abc import Iterable

from minidl.profiler.instrument import Event

# PyTorch's sort keys (and the short names of the issue) -> FunctionEventAvg attribute
SORT_KEYS = {
    "self_time_total": "self_cpu_time_total", "self_cpu_time_total": "self_cpu_time_total",
    "time_total": "cpu_time_total", "cpu_time_total": "cpu_time_total",
    "cpu_time": "cpu_time", "self_cpu_time": "self_cpu_time", "count": "count",
    "cpu_memory_usage": "cpu_memory_usage", "self_cpu_memory_usage": "cpu_memory_usage",
}


class FunctionEventAvg:
    """One row of ``key_averages()``: every event with the same key added up (times in microseconds)."""

    def __init__(self, key: str, kind: str, phase: str, backend: str, input_shapes: tuple | None) -> None:
        self.key, self.kind, self.phase, self.backend, self.input_shapes = key, kind, phase, backend, input_shapes
        self.count = 0
        self.self_cpu_time_total = 0.0
        self.cpu_time_total = 0.0
        self.cpu_memory_usage = 0  # bytes of new output arrays
        self.dtypes: set[str] = set()

    def add(self, ev: Event) -> None:
        self.count += 1
        self.self_cpu_time_total += ev.self_ns / 1e3
        self.cpu_time_total += ev.duration_ns / 1e3
        self.cpu_memory_usage += ev.bytes
        if ev.dtype:
            self.dtypes.add(ev.dtype)

    @property
    def cpu_time(self) -> float:
        """Average total time per call, in microseconds."""
        return self.cpu_time_total / max(self.count, 1)

    @property
    def self_cpu_time(self) -> float:
        return self.self_cpu_time_total / max(self.count, 1)

    def __repr__(self) -> str:
        return (f"<FunctionEventAvg key={self.key} {self.phase} backend={self.backend} count={self.count} "
                f"self={self.self_cpu_time_total:.1f}us total={self.cpu_time_total:.1f}us>")


def _format_time(us: float) -> str:
    if us >= 1e6:
        return f"{us / 1e6:.3f}s"
    if us >= 1e3:
        return f"{us / 1e3:.3f}ms"
    return f"{us:.3f}us"


def _format_bytes(n: int) -> str:
    for unit, size in (("Gb", 1 << 30), ("Mb", 1 << 20), ("Kb", 1 << 10)):
        if n >= size:
            return f"{n / size:.2f} {unit}"
    return f"{n} b"


class EventList(list[FunctionEventAvg]):
    """The rows of ``key_averages()``; ``table()`` prints them."""

    def __init__(self, rows: Iterable[FunctionEventAvg], self_total_us: float, by_shape: bool) -> None:
        super().__init__(rows)
        self.self_total_us = self_total_us
        self._by_shape = by_shape

    def sorted_by(self, sort_by: str | None) -> list[FunctionEventAvg]:
        """The rows, largest first by ``sort_by`` (PyTorch's keys; None keeps the order of first call)."""
        if sort_by is None:
            return list(self)
        if sort_by not in SORT_KEYS:
            raise ValueError(f"sort_by={sort_by!r}: expected one of {', '.join(SORT_KEYS)}")
        attr = SORT_KEYS[sort_by]
        return sorted(self, key=lambda row: getattr(row, attr), reverse=True)

    def table(self, sort_by: str | None = None, row_limit: int = 100, max_name_column_width: int = 55) -> str:
        """PyTorch's table: Name, Backend, Pass, Self CPU %, Self CPU, CPU total %, CPU total, CPU time avg,
        CPU Mem, # of Calls (and Input Shapes when grouped by them)."""
        rows = self.sorted_by(sort_by)
        if row_limit is not None and row_limit >= 0:
            rows = rows[:row_limit]
        total = self.self_total_us or 1.0
        headers = ["Name", "Backend", "Pass", "Self CPU %", "Self CPU", "CPU total %", "CPU total", "CPU time avg",
                   "CPU Mem", "# of Calls"] + (["Input Shapes"] if self._by_shape else [])
        body = []
        for r in rows:
            name = r.key if len(r.key) <= max_name_column_width else r.key[:max_name_column_width - 3] + "..."
            line = [name, r.backend or "-", "bwd" if r.phase == "backward" else "fwd",
                    f"{100 * r.self_cpu_time_total / total:.2f}%", _format_time(r.self_cpu_time_total),
                    f"{100 * r.cpu_time_total / total:.2f}%", _format_time(r.cpu_time_total),
                    _format_time(r.cpu_time), _format_bytes(r.cpu_memory_usage), str(r.count)]
            if self._by_shape:
                line.append(str([list(s) for s in r.input_shapes or ()]))
            body.append(line)
        widths = [max([len(h)] + [len(line[i]) for line in body]) for i, h in enumerate(headers)]
        rule = "  ".join("-" * w for w in widths)

        def fmt(cells: list[str]) -> str:  # names and shapes left-aligned, numbers right-aligned
            return "  ".join(c.ljust(w) if i in (0, 1, 2, 10) else c.rjust(w)
                             for i, (c, w) in enumerate(zip(cells, widths))).rstrip()

        lines = [rule, fmt(headers), rule, *(fmt(b) for b in body), rule,
                 f"Self CPU time total: {_format_time(self.self_total_us)}"]
        return "\n".join(lines) + "\n"

    def __str__(self) -> str:
        return self.table()


def key_averages(events: list[Event], group_by_input_shape: bool = False) -> EventList:
    """Group ``events`` by (name, kind, pass, backend[, input shapes]), in the order of their first call."""
    groups: dict[tuple, FunctionEventAvg] = {}
    for ev in events:
        if not ev.end_ns:  # still open (the profiler stopped inside it)
            continue
        shapes = ev.shapes if group_by_input_shape else None
        key = (ev.name, ev.kind, ev.phase, ev.backend, shapes)
        row = groups.get(key)
        if row is None:
            row = groups[key] = FunctionEventAvg(ev.name, ev.kind, ev.phase, ev.backend, shapes)
        row.add(ev)
    self_total = sum(row.self_cpu_time_total for row in groups.values())
    return EventList(groups.values(), self_total, group_by_input_shape)
