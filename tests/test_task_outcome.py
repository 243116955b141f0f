"""One classification of a Celery task run (success / retry / failure), used by PostHog's worker_task status
and by the error-rate rule: a retry is never an error."""

from __future__ import annotations

import time

from opentelemetry.trace import SpanKind, Status, StatusCode

from tl_otel.alerting.processor import ERRORS, TASK, TOTAL, AlertingSpanProcessor
from tl_otel.exporters.posthog.mapping import MappingOptions, SpanMapper


def _task_run(tracer, state: str, error: bool, retries: int = 0) -> None:
    attributes = {"celery.action": "run", "celery.task_name": "tl_engine.execute", "celery.state": state,
                  "celery.retries": retries}
    with tracer.start_as_current_span("run/tl_engine.execute", kind=SpanKind.CONSUMER,
                                      attributes=attributes) as span:
        if error:
            # e.g. the task recorded the exception that made it retry on its own span
            span.set_status(Status(StatusCode.ERROR, "Flaky"))


def test_a_retry_is_neither_a_failure_event_nor_an_error_for_the_error_rate_rule(recorder):
    tracer, memory = recorder
    _task_run(tracer, "RETRY", error=False)
    _task_run(tracer, "RETRY", error=True, retries=1)
    _task_run(tracer, "FAILURE", error=True, retries=2)
    _task_run(tracer, "SUCCESS", error=False)
    spans = memory.get_finished_spans()

    mapper = SpanMapper(MappingOptions(service="worker", distinct_id_attributes=(), excluded_routes=(),
                                       api_request_sample_rate=1.0, rules=(), lib_version="test"))
    statuses = [e["properties"]["status"] for e in mapper.events(spans) if e["event"] == "worker_task"]
    assert statuses == ["retry", "retry", "failure", "success"]

    processor = AlertingSpanProcessor("worker", 1000)
    for span in spans:
        processor.on_end(span)
    counts = processor.window(time.time() + 1, 60)[(TASK, "tl_engine.execute")]
    assert (counts[TOTAL], counts[ERRORS]) == (4, 1)
