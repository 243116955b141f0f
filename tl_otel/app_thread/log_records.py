"""Building SDK log records from attributes tl-otel has already made safe.

The SDK's ``Logger.emit`` wraps every record's attributes in ``BoundedAttributes``, which re-validates
each value one by one; for a logging call that is about a third of its cost on the application thread.
The logging bridge's attributes are already JSON-safe primitives and containers, so this module hands
the SDK a ``ReadWriteLogRecord`` whose attributes are wrapped without that second pass (limits still
apply: count and string length). The record is still emitted through the SDK ``Logger``, so logger
configuration, processors and exporters see an ordinary record.

Exporters receive what the SDK's own processors give them, a ``ReadableLogRecord`` (the console exporter
calls ``to_json``): tl-otel's record carries that interface too, and a plain ``ReadWriteLogRecord`` emitted
by other code is turned into a ``ReadableLogRecord`` before it is queued, as the SDK's processors do."""

from __future__ import annotations

from typing import Any

from opentelemetry._logs import LogRecord
from opentelemetry.attributes import BoundedAttributes
from opentelemetry.sdk._logs import LogRecordLimits, ReadableLogRecord, ReadWriteLogRecord

from tl_otel.semantics.safe_values import truncate


class PrecleanedLogRecord(ReadWriteLogRecord):
    def __post_init__(self) -> None:
        limits = self.limits
        cleaned = self.log_record.attributes or {}
        bounded = BoundedAttributes(maxlen=limits.max_log_record_attributes, immutable=False,
                                    max_value_len=limits.max_log_record_attribute_length)
        maxlen, max_value_len = bounded.maxlen, bounded.max_value_len
        if max_value_len is not None:
            cleaned = {key: truncate(value, max_value_len) if type(value) is str else value
                       for key, value in cleaned.items()}
        if maxlen is not None and len(cleaned) > maxlen:
            # BoundedAttributes keeps the newest items when full; keep the same ones.
            bounded.dropped = len(cleaned) - maxlen
            cleaned = dict(list(cleaned.items())[-maxlen:])
        bounded._dict = dict(cleaned)
        self.log_record.attributes = bounded

    # What ReadableLogRecord has beyond ReadWriteLogRecord (tests/test_sdk_exporters.py checks the two agree).
    to_json = ReadableLogRecord.to_json


def exportable(record: Any) -> Any:
    """``record`` as exporters expect it: tl-otel's own records as they are, any other ``ReadWriteLogRecord``
    as the ``ReadableLogRecord`` the SDK's processors would hand over."""
    if hasattr(record, "to_json"):
        return record
    try:
        return ReadableLogRecord(log_record=record.log_record, resource=record.resource,
                                 instrumentation_scope=record.instrumentation_scope, limits=record.limits)
    except Exception:
        return record


def build(sdk_logger: Any, attributes: dict[str, Any], **fields: Any) -> ReadWriteLogRecord:
    limits = getattr(sdk_logger, "_log_record_limits", None) or LogRecordLimits()
    return PrecleanedLogRecord(
        log_record=LogRecord(attributes=attributes, **fields),
        resource=sdk_logger.resource,
        instrumentation_scope=sdk_logger.instrumentation_scope,
        limits=limits,
    )


def release_context(record: Any) -> None:
    """A queued record needs only its trace and span ids (copied when it was made); the Context it also
    keeps holds the whole active span, so every record waiting in a queue kept a span alive. Dropped on the
    dispatcher thread, after the application thread's processors have seen the record."""
    log_record = getattr(record, "log_record", None)
    if log_record is not None and getattr(log_record, "context", None) is not None:
        log_record.context = None
