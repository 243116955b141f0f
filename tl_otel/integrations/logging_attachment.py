"""Where the logging bridge meets ``logging``: one point every record passes, whatever the application does to
its logging configuration after tl-otel configured.

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

The same point serves three more rules:

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
  printed without tl-otel. A level the application sets on the root itself ends that: its decision.
"""

from __future__ import annotations

import logging
from typing import Any

# The lowest level taken from loggers that do not propagate to the root.
NON_PROPAGATING_LEVEL = logging.WARNING

_original_call_handlers = logging.Logger.callHandlers
_original_root_set_level = logging.RootLogger.setLevel


class Attachment:
    """The bridge's place behind the root's handlers, and the root level tl-otel lowered, if any."""

    def __init__(self, handler: logging.Handler) -> None:
        self.handler = handler
        self.borrowed_from: int | None = None  # the root level before tl-otel lowered it

    def lower_default_root_level(self, level: int) -> None:
        root = logging.getLogger()
        if root.level == logging.WARNING and level < logging.WARNING:
            self.borrowed_from = root.level
            _original_root_set_level(root, level)

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
        if bridged:
            _original_call_handlers(logger, record)
            return
        if last.parent is None:
            takes = record.levelno >= handler.level
        else:
            takes = record.levelno >= max(handler.level, NON_PROPAGATING_LEVEL)
        borrowed_from = self.borrowed_from
        if borrowed_from is not None and record.levelno < borrowed_from and _level_from_root(logger):
            pass  # the record exists only because tl-otel lowered the root level: for the bridge alone
        elif found or not takes:
            _original_call_handlers(logger, record)
        if takes:
            handler.handle(record)  # it leaves out tl-otel's own lines, which never enter the pipeline

    def app_set_root_level(self) -> None:
        self.borrowed_from = None


def _level_from_root(logger: logging.Logger) -> bool:
    current: Any = logger
    while not current.level and current.parent is not None:
        current = current.parent
    return current.parent is None


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
    """Stand ``handler`` behind the root's handlers for every record; lower a root level left at Python's
    default for the bridge only. Idempotent for the same handler."""
    global _current
    attachment = _current if _current is not None and _current.handler is handler else Attachment(handler)
    attachment.lower_default_root_level(level)
    _current = attachment
    if logging.Logger.callHandlers is not _call_handlers:
        logging.Logger.callHandlers = _call_handlers  # type: ignore[method-assign]
        logging.RootLogger.setLevel = _root_set_level  # type: ignore[method-assign]
    return attachment


def current_handler() -> logging.Handler | None:
    """The bridge records reach, if logging is bridged (tests and doctor look here, not in root.handlers)."""
    return _current.handler if _current is not None else None
