"""Which span recorded an exception, for log records of the same exception made outside that span.

A server logs the error a request raised after the request's span has ended (uvicorn's "Exception in ASGI
application", gunicorn's worker errors): no span is current, so the record carried no trace id, and PostHog
received a second ``$exception`` for an occurrence the span had already reported (occurrences are recognised by
trace). The span that records an exception leaves its ids on the exception object (the first, innermost one
wins), with the route or task of its request, and the logging bridge gives a record with that exception and
no current span those ids and that route or task.

**Handled or not**: an exception that ended its request (or task) in error is unhandled, whichever record
reports it. The recording also keeps a one-item list shared with the request's span (its local root), set when
that span ends (:class:`~tl_otel.app_thread.exception_context.LocalRootLinker`); a record of the exception
made after the request ended reads it there, one made while it runs reads the span's status.

The ids are kept as a tuple of ints on the exception itself, not in a table: exceptions cannot be weakly
referenced, a table would keep their tracebacks (and every frame's locals) alive, and a tuple pickles."""

from __future__ import annotations

from typing import Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import StatusCode

from tl_otel.app_thread.exception_context import local_root, outcome_of_root, request_attributes

_ATTRIBUTE = "__tl_otel_recorded_in__"
_FIELDS = 6  # trace id, span id, flags, route or task, ended-in-error flag of the request, recording span's name


def remember(exception: BaseException, span: Any) -> None:
    try:
        if getattr(exception, _ATTRIBUTE, None) is not None:
            return
        context = span.get_span_context()
        if context.is_valid:
            setattr(exception, _ATTRIBUTE, (context.trace_id, context.span_id, int(context.trace_flags),
                                            request_attributes(span), outcome_of_root(span), str(span.name)))
    except Exception:
        return  # an exception type that refuses attributes keeps today's behaviour


def _recorded_in(exception: BaseException | None) -> tuple[Any, ...] | None:
    found = getattr(exception, _ATTRIBUTE, None) if exception is not None else None
    return found if isinstance(found, tuple) and len(found) == _FIELDS else None


def request_of(exception: BaseException | None, current: Context) -> dict[str, Any]:
    """The route or task of the request ``exception`` happened in: the current span's, else the one recorded
    with the exception by the span that recorded it."""
    found = request_attributes(trace.get_current_span(current))
    if found:
        return found
    recorded = _recorded_in(exception)
    return dict(recorded[3]) if recorded is not None else {}


def context_for(exception: BaseException | None, current: Context) -> Context:
    """``current`` when a span is active in it; else a context whose span is the one that recorded
    ``exception``, if one did."""
    if exception is None or trace.get_current_span(current).get_span_context().is_valid:
        return current
    recorded = _recorded_in(exception)
    if recorded is None:
        return current
    trace_id, span_id, flags = recorded[:3]
    recorded_in = trace.SpanContext(trace_id, span_id, is_remote=False, trace_flags=trace.TraceFlags(flags))
    return trace.set_span_in_context(trace.NonRecordingSpan(recorded_in), current)


def recorded_by(exception: BaseException | None) -> str | None:
    """The name of the span that recorded ``exception`` (the span a PostHog ``$exception`` names), if one did."""
    recorded = _recorded_in(exception)
    return recorded[5] if recorded is not None else None


def ended_request_in_error(exception: BaseException | None, current: Context) -> bool:
    """Whether ``exception``, recorded by a span, ended the request or task it happened in with an error: the
    request's span in ``current`` has an error status, or (the request over) ended with one."""
    recorded = _recorded_in(exception)
    if recorded is None:
        return False
    span = trace.get_current_span(current)
    if span.is_recording():
        status = getattr(local_root(span), "status", None)
        return status is not None and status.status_code is StatusCode.ERROR
    return bool(recorded[4][0])
