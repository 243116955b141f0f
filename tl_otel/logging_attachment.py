"""Keeping the logging bridge attached whatever the application does to ``logging`` after tl-otel configured.

Applications replace the root logger's handlers in many ways: ``dictConfig``/``fileConfig`` with a root section
(at import time or in an app factory), ``basicConfig(force=True)``, ``logging.root.handlers = [...]``,
``root.handlers.clear()``, a ``removeHandler`` loop. Wrapping the config functions misses the last three (an
assignment calls no function at all), and watching the handler list misses records logged before the next
look. The one point every record passes after any of them is ``Logger.callHandlers`` (``Logger.handle`` calls it
on the logger that made the record, and it walks the handler lists up to the root): it is wrapped once, on the
``Logger`` class, so loggers of every class set with ``setLoggerClass`` inherit it. The application's handlers
run first, exactly as it configured them; a record the bridge did not see then is given to it, so nothing
logged between a reconfiguration and tl-otel noticing it is lost, and nothing is exported twice. The bridge is
put back on the root the first time (one WARNING naming the handlers the root holds now), so the usual path
serves the next records.

The same point serves two more rules:

- Records of loggers that do not propagate to the root (uvicorn's ``uvicorn.error``, gunicorn's
  ``gunicorn.error``, an application's own) reach the bridge at WARNING and above: their errors ("Exception in
  ASGI application") belong in the JSON lines; their INFO lines are the server's chatter, and an access log
  line repeats the request's span line.
- The root level is the application's. When the application left it at Python's default, tl-otel lowers it to
  ``TL_OTEL_LOG_LEVEL`` for the bridge only: records below the level the application had, from loggers whose
  level comes from the root, reach the bridge and not the application's handlers, which keep printing what
  they printed without tl-otel. A level the application sets on the root itself ends that (its decision).
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from tl_otel.self_log import LOGGER_NAME
from tl_otel.self_log import logger as self_logger

# The lowest level taken from loggers that do not propagate to the root.
NON_PROPAGATING_LEVEL = logging.WARNING

_original_call_handlers = logging.Logger.callHandlers
_original_root_set_level = logging.RootLogger.setLevel
_handled = threading.local()  # the record the bridge handled last on this thread (see OTelLogHandler.handle)


def mark_handled(record: logging.LogRecord) -> None:
    _handled.record = record


class Attachment:
    """The bridge's place on the root logger and the root level tl-otel lowered, if any."""

    def __init__(self, handler: logging.Handler) -> None:
        self.handler = handler
        self.borrowed_from: int | None = None  # the root level before tl-otel lowered it
        self.warned = False
        self._lock = threading.Lock()

    def lower_default_root_level(self, level: int) -> None:
        root = logging.getLogger()
        if root.level == logging.WARNING and level < logging.WARNING:
            self.borrowed_from = root.level
            _original_root_set_level(root, level)

    def call_handlers(self, logger: logging.Logger, record: logging.LogRecord) -> None:
        borrowed_from = self.borrowed_from
        if borrowed_from is not None and record.levelno < borrowed_from and _level_from_root(logger):
            # The record exists only because tl-otel lowered the root level: for the bridge alone.
            self._give_missed(logger, record)
            return
        outer = getattr(_handled, "record", None)
        _handled.record = None
        try:
            _original_call_handlers(logger, record)
            missed = _handled.record is not record
        finally:
            _handled.record = outer  # a record logged from inside a handler keeps the outer one's mark
        if missed and record.levelno >= self.handler.level:
            self._give_missed(logger, record)

    def _give_missed(self, logger: logging.Logger, record: logging.LogRecord) -> None:
        if record.name == LOGGER_NAME or record.name.startswith(LOGGER_NAME + "."):
            return  # tl-otel's own lines never enter the pipeline they describe
        last = logger
        while last.propagate and last.parent is not None:
            last = last.parent
        if last.parent is None:
            if self.handler not in last.handlers:
                self._reattach(last)
            lowest = self.handler.level
        else:
            lowest = max(self.handler.level, NON_PROPAGATING_LEVEL)
        if record.levelno >= lowest:
            self.handler.handle(record)

    def _reattach(self, root: logging.Logger) -> None:
        with self._lock:
            if self.handler in root.handlers:
                return
            now = ", ".join(_describe(handler) for handler in root.handlers) or "no handlers"
            root.addHandler(self.handler)
            if self.warned:
                return
            self.warned = True
        self_logger.warning(
            "the application reconfigured logging and replaced tl-otel's handler on the root logger (it now holds: "
            "%s); tl-otel re-attached its handler, every record still reaches the exporters and the application's "
            "handlers work as it configured them", now)

    def app_set_root_level(self) -> None:
        self.borrowed_from = None


def _level_from_root(logger: logging.Logger) -> bool:
    current: Any = logger
    while not current.level and current.parent is not None:
        current = current.parent
    return current.parent is None


def _describe(handler: logging.Handler) -> str:
    kind = type(handler).__name__
    target = getattr(handler, "baseFilename", None) or getattr(getattr(handler, "stream", None), "name", None)
    return f"{kind}({target})" if target else kind


_current: Attachment | None = None


def _call_handlers(self: logging.Logger, record: logging.LogRecord) -> None:
    attachment = _current
    if attachment is None:
        _original_call_handlers(self, record)
    else:
        attachment.call_handlers(self, record)


def _root_set_level(self: logging.Logger, level: Any) -> None:
    _original_root_set_level(self, level)
    attachment = _current
    if attachment is not None and self is logging.getLogger():
        attachment.app_set_root_level()


_call_handlers.__wrapped__ = _original_call_handlers  # type: ignore[attr-defined]
_root_set_level.__wrapped__ = _original_root_set_level  # type: ignore[attr-defined]


def attach(handler: logging.Handler, level: int) -> Attachment:
    """Put ``handler`` on the root logger and keep it there; lower a root level left at Python's default."""
    global _current
    root = logging.getLogger()
    attachment = _current if _current is not None and _current.handler is handler else Attachment(handler)
    with attachment._lock:
        if handler not in root.handlers:
            root.addHandler(handler)
    attachment.lower_default_root_level(level)
    _current = attachment
    if logging.Logger.callHandlers is not _call_handlers:
        logging.Logger.callHandlers = _call_handlers  # type: ignore[method-assign]
        logging.RootLogger.setLevel = _root_set_level  # type: ignore[method-assign]
    return attachment
