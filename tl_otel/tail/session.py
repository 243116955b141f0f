"""One ``tl-otel tail`` run: every input line passes through :meth:`TailSession.feed`, the one place that
decides whether it is passed through, joins a trace, is shown at once (a line outside any trace, an alert) or
counts in the ``--top`` table."""

from __future__ import annotations

import sys

from tl_otel.tail.filters import Filters
from tl_otel.tail.output import PlainOutput, RichOutput
from tl_otel.tail.records import is_alert, parse
from tl_otel.tail.top_table import TopTable
from tl_otel.tail.traces import Trace, TraceBuffer
from tl_otel.tail.tree_view import TreeRenderer, render_line

LIVE_TRACES_SHOWN = 3


class TailSession:
    def __init__(self, output: PlainOutput | RichOutput, buffer: TraceBuffer, filters: Filters,
                 top: TopTable | None = None) -> None:
        self.output = output
        self.buffer = buffer
        self.filters = filters
        self.top = top
        self.renderer = TreeRenderer()
        self.lines = 0
        self.records = 0

    def feed(self, line: str, wall: float) -> None:
        self.lines += 1
        record = parse(line)
        if record is None:
            self.output.passthrough(line)
            return
        self.records += 1
        if record["type"] == "metric":
            return  # figures for backends: the trees and the table are made from spans and logs
        if is_alert(record) or not record.get("trace_id"):
            if (self.top is None or is_alert(record)) and self.filters.accepts_line(record):
                self.output.line(render_line(record))
            return
        if self.top is not None:
            self.top.add(record)  # its rows are filtered by route and service as they are drawn
            return
        for trace in self.buffer.add(str(record["trace_id"]), record, wall):
            self._show(trace)

    def tick(self, wall: float | None) -> None:
        for trace in self.buffer.tick(None, wall):
            self._show(trace)

    def redraw(self) -> None:
        """The live area: the top table, or the traces still being assembled (a terminal only)."""
        if self.top is not None:
            self.output.table(self.top.render(), final=False)
        elif isinstance(self.output, RichOutput):
            recent = [trace for trace in self.buffer.open.values() if trace.rooted][-LIVE_TRACES_SHOWN:]
            self.output.pending([self.renderer.render(trace) for trace in recent
                                 if self.filters.accepts_trace(trace.trace_id, trace.records)])

    def finish(self) -> None:
        for trace in self.buffer.drain():
            self._show(trace)
        if self.top is not None:
            self.output.table(self.top.render(), final=True)
        self.output.close()
        stats = self.buffer.stats
        if stats.evicted_traces or stats.dropped_lines:
            print(f"tl-otel tail: {stats.evicted_traces} traces shown before they ended (more open than "
                  f"--max-traces {self.buffer.max_traces}), {stats.dropped_lines} lines dropped (over --max-lines "
                  f"{self.buffer.max_lines} in one trace)", file=sys.stderr)

    def _show(self, trace: Trace) -> None:
        if self.filters.accepts_trace(trace.trace_id, trace.records):
            self.output.block(self.renderer.render(trace))
