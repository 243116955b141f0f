"""Bridging stdlib ``logging`` into OpenTelemetry log records.

tl-otel uses its own handler rather than the SDK's (deprecated) LoggingHandler because that one raises
into application code on a circular ``extra`` dict or a message argument whose ``__str__`` raises.
Here every value is made safe first and nothing escapes ``emit``."""

from __future__ import annotations

import logging
import time
import traceback
from typing import Any

from opentelemetry._logs import LoggerProvider, SeverityNumber
from opentelemetry.context import _SUPPRESS_INSTRUMENTATION_KEY, get_current

from tl_otel.app_thread import exception_origin, log_records
from tl_otel.diagnostics.self_log import RateLimitedLog, is_own
from tl_otel.integrations import logging_attachment
from tl_otel.semantics.safe_values import safe_str, to_jsonable

_STANDARD_FIELDS = frozenset(vars(logging.makeLogRecord({})))
_STANDARD_FIELD_COUNT = len(_STANDARD_FIELDS)
# The logging instrumentation's record factory (OTEL_PYTHON_LOG_CORRELATION) adds these to every record; they
# repeat the line's trace_id, span_id and service.name.
_INJECTED = {"otelSpanID", "otelTraceID", "otelTraceSampled", "otelServiceName"}
_RESERVED = _STANDARD_FIELDS | {"message", "asctime", "taskName"} | _INJECTED
_rate_limited = RateLimitedLog()


def _severity(levelno: int) -> SeverityNumber:
    if levelno >= logging.CRITICAL:
        return SeverityNumber.FATAL
    if levelno >= logging.ERROR:
        return SeverityNumber.ERROR
    if levelno >= logging.WARNING:
        return SeverityNumber.WARN
    if levelno >= logging.INFO:
        return SeverityNumber.INFO
    return SeverityNumber.DEBUG


def _qualified_name(exc_type: Any) -> str:
    # The same form the SDK records on spans (semantic conventions: the fully-qualified class name).
    name = getattr(exc_type, "__qualname__", None) or getattr(exc_type, "__name__", None) or safe_str(exc_type)
    module = getattr(exc_type, "__module__", None)
    return name if module in (None, "builtins", "__main__") else f"{module}.{name}"


def _message(record: logging.LogRecord) -> str:
    try:
        return record.getMessage()
    except Exception as exc:
        if not record.args:
            return safe_str(record.msg)
        return f"{safe_str(record.msg)} (log arguments could not be formatted: {type(exc).__name__})"


def _attributes(record: logging.LogRecord, max_length: int) -> dict[str, Any]:
    attributes: dict[str, Any] = {}
    fields = record.__dict__
    # A record with exactly the standard fields has no extra= fields: skip the scan. Otherwise scan in
    # order, so extra fields keep the order the application gave them.
    extras = () if len(fields) == _STANDARD_FIELD_COUNT else [key for key in fields if key not in _RESERVED]
    for key in extras:
        value = fields[key]
        kind = type(value)
        if kind is str or kind is int or kind is bool or (kind is float and value == value):
            attributes[key] = value
        else:
            attributes[key] = to_jsonable(value, max_length)
    attributes["code.file.path"] = record.pathname
    attributes["code.function.name"] = record.funcName
    attributes["code.line.number"] = record.lineno
    if record.exc_info and record.exc_info[0] is not None:
        exc_type, exc_value, exc_tb = record.exc_info
        attributes["exception.type"] = _qualified_name(exc_type)
        attributes["exception.message"] = safe_str(exc_value)
        try:
            attributes["exception.stacktrace"] = "".join(traceback.format_exception(exc_type, exc_value, exc_tb))
        except Exception:
            attributes["exception.stacktrace"] = "<stack trace could not be formatted>"
        # The route or task the exception happened in, as span recordings carry it (exception_context); for a
        # server's log made after the request's span ended, the one the recording span left on the exception.
        for key, value in exception_origin.request_of(exc_value, get_current()).items():
            attributes.setdefault(key, value)
    if record.stack_info:
        attributes["code.stacktrace"] = record.stack_info
    return attributes


class OTelLogHandler(logging.Handler):
    """Turns each ``logging.LogRecord`` into an OpenTelemetry log record on ``logger_provider``."""

    def __init__(self, logger_provider: LoggerProvider, level: int = logging.NOTSET,
                 max_value_length: int = 16384) -> None:
        super().__init__(level)
        self._provider = logger_provider
        self._max_value_length = max_value_length
        self._loggers: dict[str, Any] = {}
        self._fast = True
        self.failures = 0

    def emit(self, record: logging.LogRecord) -> None:
        try:
            if is_own(record.name):  # tl-otel's own lines and the libraries it adopted: stderr only
                return
            context = get_current()
            if record.exc_info:
                # A server's log of an error the request's span recorded, after that span ended: its ids.
                context = exception_origin.context_for(record.exc_info[1], context)
            if context.get(_SUPPRESS_INSTRUMENTATION_KEY):
                # Logged while exporting (an exporter's or its HTTP client's own warning): feeding it back
                # into the pipeline would loop, one record per failed export.
                return
            otel_logger = self._loggers.get(record.name)
            if otel_logger is None:
                otel_logger = self._loggers[record.name] = self._provider.get_logger(record.name)
            fields = {
                "timestamp": int(record.created * 1e9),
                "observed_timestamp": time.time_ns(),
                "context": context,
                "severity_number": _severity(record.levelno),
                "severity_text": record.levelname,
                "body": _message(record),
            }
            attributes = _attributes(record, self._max_value_length)
            if self._fast:
                try:
                    otel_logger.emit(log_records.build(otel_logger, attributes, **fields))
                    return
                except Exception:
                    self._fast = False  # an SDK that changed shape: use its public path from now on
            otel_logger.emit(attributes=attributes, **fields)
        except BaseException as exc:  # RecursionError included: logging must never break the app
            if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                raise
            self.failures += 1
            _rate_limited.warning("log-bridge", "a log record could not be captured (%s)", type(exc).__name__)

    def flush(self) -> None:
        # Flushing is tl-otel's job (bounded, at shutdown); logging.shutdown() must not block on it.
        return None


def install(handler: OTelLogHandler, level: int) -> None:
    """Give ``handler`` every record that reaches the root, whatever the application does to logging later (see
    :mod:`.logging_attachment`: it stands behind the root's handlers, not in their list); lower the root
    level to ``level`` for the bridge only if the application left it at Python's default (WARNING), so that
    INFO records are captured."""
    logging_attachment.attach(handler, level)


def attach_to(logger: logging.Logger, handler: OTelLogHandler) -> None:
    """Attach to a logger that does not propagate to root (Celery's task logger)."""
    if handler not in logger.handlers:
        logger.addHandler(handler)
