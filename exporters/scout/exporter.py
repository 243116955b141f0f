"""Span exporter ``scout``: local-root trees → ``BatchCommand`` frames → the core agent.

It runs on its destination's worker thread: assembling and building commands happens there, and the
frames go to the core-agent client's own queue and thread, so a missing or slow agent never holds up
the export worker either."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from opentelemetry.sdk.trace import SpanProcessor
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from tl_otel.diagnostics.self_log import RateLimitedLog
from tl_otel.exporters.scout.agent_client import CoreAgentClient
from tl_otel.exporters.scout.assembly import RequestAssembler
from tl_otel.exporters.scout.capture import ScoutCaptureProcessor
from tl_otel.exporters.scout.commands import build

_rate_limited = RateLimitedLog()


class ScoutSpanExporter(SpanExporter):
    # Works from tl-otel's span records (tl_otel.pipeline.span_record): request trees wait for their roots
    # as tuples the garbage collector does not track.
    tl_otel_reads_records = True

    def __init__(self, client: CoreAgentClient, assembler: RequestAssembler | None = None,
                 allocations: bool = False) -> None:
        self.client = client
        self.assembler = assembler or RequestAssembler()
        self.allocations = allocations
        self.build_failures = 0
        self.build_failed_spans = 0

    @classmethod
    def from_settings(cls, settings: Any) -> ScoutSpanExporter:
        if not settings.scout_key:
            raise ValueError("SCOUT_KEY is not set")
        if not settings.scout_socket_path:
            raise ValueError("SCOUT_CORE_AGENT_SOCKET_PATH was refused (see the warning above): Scout is off")
        client = CoreAgentClient(
            settings.scout_socket_path, settings.scout_name, settings.scout_key, settings.scout_hostname,
            timeout=settings.scout_timeout, queue_size=settings.scout_queue_size,
            launch=settings.scout_core_agent_launch,
        )
        return cls(client, RequestAssembler(settings.scout_assembly_window, settings.scout_max_buffered_spans),
                   allocations=settings.scout_allocations)

    def app_thread_processor(self) -> SpanProcessor:
        """What Scout needs from the application's thread (memory, allocation counts, slow-span and N+1
        stacks), taken by a span processor that runs before spans are handed to the destinations."""
        return ScoutCaptureProcessor(allocations=self.allocations)

    def export(self, spans: Sequence[Any]) -> SpanExportResult:
        for request in self.assembler.add(list(spans)):
            spans_carried = 1 + len(request.descendants)
            try:
                message = build(request)
            except Exception as exc:  # one broken request must not cost the others
                self.build_failures += 1
                self.build_failed_spans += spans_carried
                _rate_limited.warning("scout-build", "a Scout request could not be built (%s)", type(exc).__name__)
                continue
            self.client.send(message, spans_carried)
        return SpanExportResult.SUCCESS

    def losses_after_export(self) -> dict[str, int]:
        """Spans this export handed on that never reached the agent or were never acknowledged by it: the
        destination counts them as failed, not exported (a frame the agent did not answer may or may not have
        been recorded; it is not counted as delivered)."""
        stats = self.client.stats
        return {"unacknowledged_by_core_agent": stats.unacknowledged_items,
                "scout_queue_full": stats.dropped_queue_full_items,
                "never_sent_at_close": stats.unsent_at_close_items,
                "scout_request_build_failed": self.build_failed_spans}

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.client.flush(timeout_millis / 1000.0)

    def shutdown(self) -> None:
        self.client.close()
