"""SDK-facing adapters: a SpanProcessor and a LogRecordProcessor that feed a Fanout.

Neither lets anything raise into the application: the SDK runs on_end/on_emit on the application
thread without protection (a raising processor replaces the application's own exception)."""

from __future__ import annotations

from typing import Any

from opentelemetry.context import Context
from opentelemetry.sdk._logs import LogRecordProcessor, ReadWriteLogRecord
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor

from tl_otel.app_thread.log_records import exportable
from tl_otel.pipeline.deadline import Deadline
from tl_otel.pipeline.fanout import Fanout


class _FeedsFanout:
    def __init__(self, fanout: Fanout, shutdown_timeout: float) -> None:
        self.fanout = fanout
        self._shutdown_timeout = shutdown_timeout

    def _offer(self, item: Any) -> None:
        # try/except rather than contextlib.suppress: this runs on the application thread for every item.
        try:  # noqa: SIM105
            self.fanout.offer(item)
        except Exception:
            pass

    def shutdown(self) -> None:
        self.fanout.shutdown(Deadline(self._shutdown_timeout))

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.fanout.force_flush(Deadline(timeout_millis / 1000.0))


class FanoutSpanProcessor(_FeedsFanout, SpanProcessor):
    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        return None

    def on_end(self, span: ReadableSpan) -> None:
        self._offer(span)


class FanoutLogRecordProcessor(_FeedsFanout, LogRecordProcessor):
    def on_emit(self, log_record: ReadWriteLogRecord) -> None:
        self._offer(exportable(log_record))
