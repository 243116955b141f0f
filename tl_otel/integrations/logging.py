"""What tl-otel adds to stdlib ``logging``: the bridge that turns every record into an OpenTelemetry log record,
where it attaches, and what it does with the logging instrumentation that ``opentelemetry-bootstrap`` installs.

tl-otel uses its own handler rather than the SDK's (deprecated) LoggingHandler because that one raises
into application code on a circular ``extra`` dict or a message argument whose ``__str__`` raises.
Here every value is made safe first and nothing escapes ``emit``.

**The logging instrumentation** (a default of ``opentelemetry-bootstrap -a install``) would add its own handler
to the root logger beside the bridge: every record exported twice, the second copy without ``code.*``. tl-otel
tells it not to (``enable_log_auto_instrumentation=False``); its record factory stays (trace ids injected into
records only when OTEL_PYTHON_LOG_CORRELATION asks for it).

**Where the bridge attaches**: one point every record passes, whatever the application does to its logging
configuration after tl-otel configured.

Applications replace the root logger's handlers in many ways: ``dictConfig``/``fileConfig`` with a root section
(at import time or in an app factory), ``basicConfig(force=True)``, ``logging.root.handlers = [...]``,
``root.handlers.clear()``, a ``removeHandler`` loop. A bridge kept in the root's handler list is lost to each of
them, and putting it back needs a watcher that misses the records logged before it looks; wrapping the config
functions misses the assignments (they call no function at all). A bridge in the list also turns the
application's plain ``basicConfig()`` into a no-op (it configures only a root without handlers), so the
application's own output vanished. The deepest point every record passes is ``Logger.callHandlers`` (called by
``Logger.handle`` on the logger that made the record; it walks the handler lists up to the root): it is wrapped
once, on the ``Logger`` class, so loggers of any class set with ``setLoggerClass`` inherit it. The bridge stands
there behind the root's handlers, never in the list: the application's handlers run exactly as it configured
them, then the bridge takes the record, once, and no configuration can detach it.

The same point serves four more rules:

- Records made on tl-otel's own threads (named ``tl-otel-*``: the pipeline, the exporters, the alert channels,
  Scout's client) by the libraries they drive - urllib3's ``"POST /batch/ HTTP/1.1" 200`` under PostHog's
  client, smtplib, an HTTP client's retry warning - are tl-otel's traffic: they never reach the application's
  handlers nor the bridge, and go to tl-otel's own stderr at WARNING and above. The thread, not a list of
  logger names, decides: any library tl-otel's threads use is covered.

- Where a record finds no handler at all, the bridge counts as one (as it did on the root): Python's
  last-resort stderr printer stays quiet, as before.
- Records of loggers that do not propagate to the root (uvicorn's ``uvicorn.error``, gunicorn's
  ``gunicorn.error``, an application's own) reach the bridge at WARNING and above: their errors ("Exception in
  ASGI application") belong in the JSON lines; their INFO lines are the server's chatter, and an access log
  line repeats the request's span line. A logger the bridge was attached to (Celery's task logger) is served
  by that handler.
- The root level is the application's. When the application left it at Python's default, tl-otel lowers it to
  ``TL_OTEL_LOG_LEVEL`` for the bridge only: records below the level the root had, from loggers whose level
  comes from the root, reach the bridge and not the application's handlers, which keep printing what they
  printed without tl-otel. A level the application sets on the root itself ends that: its decision. Celery's
  task logger, which Celery leaves at ``--loglevel`` (WARNING by default), is lowered the same way.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import traceback
from collections.abc import Mapping
from typing import Any

from opentelemetry._logs import LoggerProvider, SeverityNumber
from opentelemetry.context import _SUPPRESS_INSTRUMENTATION_KEY, get_current

from tl_otel.app_thread import exception_origin, log_records
from tl_otel.diagnostics.self_log import RateLimitedLog, is_own, logger, say_own_thread_record
from tl_otel.semantics.safe_values import safe_str, to_jsonable

_STANDARD_FIELDS = frozenset(vars(logging.makeLogRecord({})))
_STANDARD_FIELD_COUNT = len(_STANDARD_FIELDS)
# The logging instrumentation's record factory (OTEL_PYTHON_LOG_CORRELATION) adds these to every record; they
# repeat the line's trace_id, span_id and service.name.
_INJECTED = {"otelSpanID", "otelTraceID", "otelTraceSampled", "otelServiceName"}
_RESERVED = _STANDARD_FIELDS | {"message", "asctime", "taskName"} | _INJECTED
_rate_limited = RateLimitedLog()
LOG_HANDLER_VARIABLE = "OTEL_PYTHON_LOG_AUTO_INSTRUMENTATION"
_warned: set[str] = set()


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
        current = get_current()
        for key, value in exception_origin.request_of(exc_value, current).items():
            attributes.setdefault(key, value)
        recorded_by = exception_origin.recorded_by(exc_value)
        if recorded_by is not None:
            # The same occurrence as the span's recording, told the same way whichever reaches PostHog first.
            attributes.setdefault("exception.span_name", recorded_by)
            if exception_origin.ended_request_in_error(exc_value, current):
                attributes["exception.handled"] = False
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
    below: it stands behind the root's handlers, not in their list); lower the root
    level to ``level`` for the bridge only if the application left it at Python's default (WARNING), so that
    INFO records are captured."""
    attach(handler, level)


def attach_to(logger: logging.Logger, handler: OTelLogHandler) -> None:
    """Attach to a logger that does not propagate to root (Celery's task logger)."""
    if handler not in logger.handlers:
        logger.addHandler(handler)

# The lowest level taken from loggers that do not propagate to the root.
NON_PROPAGATING_LEVEL = logging.WARNING
# Every thread tl-otel starts is named so (pipeline, exporters, alerting, Scout's client, deadlines).
OWN_THREAD_PREFIX = "tl-otel-"

_original_call_handlers = logging.Logger.callHandlers
_original_set_level = logging.Logger.setLevel


class Attachment:
    """The bridge's place behind the root's handlers, and the logger levels tl-otel lowered for it, if any."""

    def __init__(self, handler: logging.Handler) -> None:
        self.handler = handler
        self.borrowed: dict[logging.Logger, int] = {}  # logger -> its level before tl-otel lowered it

    @property
    def borrowed_from(self) -> int | None:
        """The root level before tl-otel lowered it, if it did."""
        return self.borrowed.get(logging.getLogger())

    def lower_default_level(self, target: logging.Logger, level: int) -> None:
        """Lower ``target`` from WARNING (Python's and Celery's default) to ``level`` for the bridge only: the
        records this lets through reach the bridge and none of the application's handlers."""
        if target.level == logging.WARNING and level < logging.WARNING:
            self.borrowed[target] = target.level
            _original_set_level(target, level)

    def lower_default_root_level(self, level: int) -> None:
        self.lower_default_level(logging.getLogger(), level)

    def call_handlers(self, logger: logging.Logger, record: logging.LogRecord) -> None:
        handler = self.handler
        found = bridged = False
        last = logger
        while True:
            handlers = last.handlers
            if handlers:
                found = True
                if handler in handlers:
                    bridged = True  # attached to this logger (Celery's task logger): its own walk serves it
            if not last.propagate or last.parent is None:
                break
            last = last.parent
        # A record that exists only because tl-otel lowered the level its logger takes: for the bridge alone.
        bridge_only = False
        if self.borrowed:
            borrowed_from = self.borrowed.get(_level_owner(logger))
            bridge_only = borrowed_from is not None and record.levelno < borrowed_from
        if bridged:
            if not bridge_only:
                _original_call_handlers(logger, record)
            elif record.levelno >= handler.level:
                handler.handle(record)
            return
        if last.parent is None:
            takes = record.levelno >= handler.level
        else:
            takes = record.levelno >= max(handler.level, NON_PROPAGATING_LEVEL)
        if not bridge_only and (found or not takes):
            _original_call_handlers(logger, record)
        if takes:
            handler.handle(record)  # it leaves out tl-otel's own lines, which never enter the pipeline

    def app_set_level(self, target: logging.Logger) -> None:
        self.borrowed.pop(target, None)


def _level_owner(logger: logging.Logger) -> logging.Logger:
    """The logger whose level ``logger`` takes (itself, or the nearest ancestor with a level)."""
    current: Any = logger
    while not current.level and current.parent is not None:
        current = current.parent
    return current


_current: Attachment | None = None


def _call_handlers(self: logging.Logger, record: logging.LogRecord) -> None:
    if threading.current_thread().name.startswith(OWN_THREAD_PREFIX) and not is_own(record.name):
        # Made on one of tl-otel's threads by a library it drives (urllib3's "POST /batch/ 200", an SMTP
        # client): tl-otel's traffic, never the application's output nor its telemetry.
        say_own_thread_record(record)
        return
    attachment = _current
    if attachment is None:
        _original_call_handlers(self, record)
    else:
        attachment.call_handlers(self, record)


def _set_level(self: logging.Logger, level: Any) -> None:
    _original_set_level(self, level)
    attachment = _current
    if attachment is not None and attachment.borrowed:
        attachment.app_set_level(self)  # the application's decision from now on


_call_handlers.__wrapped__ = _original_call_handlers  # type: ignore[attr-defined]
_set_level.__wrapped__ = _original_set_level  # type: ignore[attr-defined]


def keep_own_threads_apart() -> None:
    """Stand at ``Logger.callHandlers`` so that records made on tl-otel's threads go to tl-otel's own stderr
    only (at WARNING and above), even when no log exporter is on. Idempotent."""
    if logging.Logger.callHandlers is not _call_handlers:
        logging.Logger.callHandlers = _call_handlers  # type: ignore[method-assign]
        logging.Logger.setLevel = _set_level  # type: ignore[method-assign]


def attach(handler: logging.Handler, level: int) -> Attachment:
    """Stand ``handler`` behind the root's handlers for every record; lower a root level left at Python's
    default for the bridge only. Idempotent for the same handler."""
    global _current
    attachment = _current if _current is not None and _current.handler is handler else Attachment(handler)
    attachment.lower_default_root_level(level)
    _current = attachment
    keep_own_threads_apart()
    return attachment


# The parent of every logger of the OpenTelemetry packages tl-otel loads (SDK, instrumentations).
OPENTELEMETRY_LOGGER = "opentelemetry"


def quiet_opentelemetry_debug() -> None:
    """The instrumentations tl-otel brings log DEBUG lines on the application's thread - Celery's "prerun
    signal start task_id=…" and "postrun signal task_id=…" for every task - which an application whose root
    is at DEBUG would print as its own. Unless the application set a level on the ``opentelemetry`` logger
    itself, it speaks at INFO and above; the application's own loggers keep the level they have."""
    upstream = logging.getLogger(OPENTELEMETRY_LOGGER)
    if upstream.level == logging.NOTSET:
        _original_set_level(upstream, logging.INFO)


def lower_for_bridge(target: logging.Logger, level: int) -> None:
    """Lower a logger left at WARNING (Celery's task logger) to ``level`` for the bridge only."""
    if _current is not None:
        _current.lower_default_level(target, level)


def current_handler() -> logging.Handler | None:
    """The bridge records reach, if logging is bridged (tests and doctor look here, not in root.handlers)."""
    return _current.handler if _current is not None else None


def instrumentor_kwargs(name: str, settings: Any, env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The logging instrumentation's options: never its own handler while the bridge exports."""
    if name != "logging" or not settings.logging:
        return {}
    env = os.environ if env is None else env
    if env.get(LOG_HANDLER_VARIABLE, "").strip().lower() == "true" and LOG_HANDLER_VARIABLE not in _warned:
        _warned.add(LOG_HANDLER_VARIABLE)
        logger.warning("%s=true asks the logging instrumentation to add its own log handler; tl-otel does not let it, "
                       "because tl-otel's bridge already exports every record (it would export each one twice). Set "
                       "TL_OTEL_LOGGING=false to use the instrumentation's handler instead", LOG_HANDLER_VARIABLE)
    return {"enable_log_auto_instrumentation": False}
