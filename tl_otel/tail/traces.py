"""Assembling a trace's lines, which arrive in any order and from several processes, with bounded memory.

A trace is *ready* once a local root (a request served, a task run) has its line and nothing more of the trace
has come for ``linger_s``: on the stream's own clock (the latest end time read; reading a saved file gives the
same blocks however fast it is read) or, when following live input, on the wall clock. Lines that arrive
after their trace was shown form a continuation of it. Bounds: at most ``max_traces`` open traces (the oldest is
shown as it stands when one more opens) and ``max_lines`` lines per trace (later ones are dropped); both are
counted, and the count is reported."""

from __future__ import annotations

import heapq
import itertools
from collections import OrderedDict
from dataclasses import dataclass, field

from tl_otel.tail.records import ROOT_KINDS, Record

# A trace whose local root never writes a line (not sampled, a process without tl-otel) still ends.
ROOTLESS_WAIT_S = 60.0
REMEMBERED_SHOWN = 10_000


@dataclass
class Trace:
    trace_id: str
    records: list[Record] = field(default_factory=list)
    end_ns: int = 0
    arrived: float = 0.0  # wall clock of the latest line
    rooted: bool = False
    dropped: int = 0
    continuation: str | None = None  # the name of the part already shown, for a trace's late lines
    evicted: bool = False
    due_ns: int = 0


@dataclass
class BufferStats:
    evicted_traces: int = 0
    dropped_lines: int = 0


class TraceBuffer:
    def __init__(self, linger_s: float = 2.0, max_traces: int = 1000, max_lines: int = 1000) -> None:
        self.linger_ns = int(linger_s * 1e9)
        self.max_traces = max_traces
        self.max_lines = max_lines
        self.open: OrderedDict[str, Trace] = OrderedDict()
        # recently shown traces and their root's name: a late line continues them
        self.shown: OrderedDict[str, str] = OrderedDict()
        self.clock_ns = 0
        self.stats = BufferStats()
        # (stream time a trace may be ready, arrival order, trace id), one entry per change of that time; an
        # entry older than its trace's current time is skipped: a tick costs O(log n) per trace it shows
        self._due: list[tuple[int, int, str]] = []
        self._order = itertools.count()

    def add(self, trace_id: str, record: Record, wall: float) -> list[Trace]:
        """Adds one line; returns the traces this pushed out of the buffer (to be shown now)."""
        end = record["_end"]
        if end > self.clock_ns:
            self.clock_ns = end
        trace = self.open.get(trace_id)
        pushed: list[Trace] = []
        if trace is None:
            if len(self.open) >= self.max_traces:
                _, oldest = self.open.popitem(last=False)
                oldest.evicted = True
                self.stats.evicted_traces += 1
                pushed.append(self._shown(oldest))
            trace = self.open[trace_id] = Trace(trace_id, continuation=self.shown.get(trace_id))
        if len(trace.records) >= self.max_lines:
            trace.dropped += 1
            self.stats.dropped_lines += 1
        else:
            trace.records.append(record)
        if end > trace.end_ns:
            trace.end_ns = end
        trace.arrived = wall
        if record.get("span.kind") in ROOT_KINDS or (record.get("type") == "span"
                                                    and record.get("parent_span_id") is None):
            trace.rooted = True
        due = trace.end_ns + self._wait_ns(trace)
        if due != trace.due_ns:
            trace.due_ns = due
            heapq.heappush(self._due, (due, next(self._order), trace_id))
        return pushed

    def _wait_ns(self, trace: Trace) -> int:
        return self.linger_ns if trace.rooted else int(ROOTLESS_WAIT_S * 1e9)

    def tick(self, clock_ns: int | None, wall: float | None) -> list[Trace]:
        """The traces ready by the stream's clock (and the wall clock, when given), oldest first."""
        clock = self.clock_ns if clock_ns is None else clock_ns
        ready = []
        due = self._due
        while due and due[0][0] <= clock:
            when, _, trace_id = heapq.heappop(due)
            trace = self.open.get(trace_id)
            if trace is not None and trace.due_ns == when:
                ready.append(trace)
                del self.open[trace_id]
        if wall is not None:  # live input: also what has had no line for its wait, by the wall clock
            quiet = [trace for trace in self.open.values() if wall - trace.arrived >= self._wait_ns(trace) / 1e9]
            for trace in quiet:
                del self.open[trace.trace_id]
            ready += quiet
        if not self.open:
            due.clear()
        return [self._shown(trace) for trace in ready]

    def drain(self) -> list[Trace]:
        """Every open trace, at the end of the input."""
        traces = list(self.open.values())
        self.open.clear()
        return [self._shown(trace) for trace in traces]

    def _shown(self, trace: Trace) -> Trace:
        roots = [r for r in trace.records if r.get("span.kind") in ROOT_KINDS]
        first = min(roots, key=lambda r: r["_start"]) if roots else None
        self.shown[trace.trace_id] = trace.continuation or (str(first.get("message")) if first else "")
        if len(self.shown) > REMEMBERED_SHOWN:
            self.shown.popitem(last=False)
        return trace
