"""tl-otel's own diagnostics logger, and the one format of every line tl-otel itself writes to stderr.

It writes to stderr through its own handler and does not propagate, so tl-otel's messages never enter
the telemetry pipeline they describe (an export error logged into the exporter would loop).

Each line is one compact JSON object shaped like the JSON lines on stdout: ``timestamp`` (RFC 3339 UTC, µs),
``level``, ``type: "log"``, ``logger``, ``message``, ``service.name`` (what the telemetry carries, once
tl-otel has built its resource; ``null`` before) and ``process.pid``. The start-up line is one of them
(:func:`record`, :func:`dumps`), with its own fields after those."""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
import time
from datetime import datetime, timezone
from typing import Any

LOGGER_NAME = "tl_otel"

logger = logging.getLogger(LOGGER_NAME)

_service_name: str | None = None
_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=str).encode


def set_service_name(name: Any) -> None:
    """The ``service.name`` of the resource every signal carries (set by configuration once it is built)."""
    global _service_name
    _service_name = None if name is None else str(name)


def _timestamp(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _scrubbed(text: str) -> str:
    # tl-otel's own lines get the same redaction as telemetry: an exception text from an HTTP client
    # can hold a webhook path, a URL's password, a key.
    try:
        from tl_otel.redaction.redactor import current

        return current().scrub_text(text)
    except Exception:
        return text


def record(level: str, message: str, logger_name: str = LOGGER_NAME, created: float | None = None,
           **fields: Any) -> dict[str, Any]:
    """The content of one of tl-otel's own lines; ``message`` is redacted, ``fields`` follow the fixed ones."""
    line: dict[str, Any] = {
        "timestamp": _timestamp(time.time() if created is None else created),
        "level": level,
        "type": "log",
        "logger": logger_name,
        "message": _scrubbed(message),
        "service.name": _service_name,
        "process.pid": os.getpid(),
    }
    line.update(fields)
    return line


def dumps(line: dict[str, Any]) -> str:
    """``line`` as one compact JSON line (without the newline)."""
    try:
        return _dumps(line)
    except Exception:
        return _dumps({key: str(value) for key, value in line.items()})


def encode(level: str, message: str, logger_name: str = LOGGER_NAME, created: float | None = None,
           **fields: Any) -> str:
    """One of tl-otel's own lines (without the newline)."""
    return dumps(record(level, message, logger_name, created, **fields))


class _JsonLineFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        if record.exc_info:
            message += "\n" + self.formatException(record.exc_info)
        if record.stack_info:
            message += "\n" + self.formatStack(record.stack_info)
        return encode(record.levelname, message, record.name, record.created)


class _StderrHandler(logging.StreamHandler):
    def __init__(self) -> None:
        super().__init__(sys.__stderr__ or sys.stderr)
        self.setFormatter(_JsonLineFormatter())


class _AlwaysEnabledLogger(logging.Logger):
    """``dictConfig``/``fileConfig`` disable every existing logger they do not name
    (``disable_existing_loggers=True`` is their default): tl-otel's own logger would go silent exactly when
    it has something to say about the application's logging. Its ``disabled`` flag cannot be set."""

    @property  # type: ignore[override]
    def disabled(self) -> bool:
        return False

    @disabled.setter
    def disabled(self, value: bool) -> None:
        return None


if type(logger) is logging.Logger:
    logger.__class__ = _AlwaysEnabledLogger

if not any(isinstance(handler, _StderrHandler) for handler in logger.handlers):
    logger.addHandler(_StderrHandler())
    logger.propagate = False
    if logger.level == logging.NOTSET:
        logger.setLevel(logging.INFO)


class RateLimitedLog:
    """Logs a message at most once per ``interval`` seconds per key, counting what it held back."""

    def __init__(self, interval: float = 20.0) -> None:
        self._interval = interval
        self._last: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}
        self._lock = threading.Lock()

    def warning(self, key: str, message: str, *args: object) -> None:
        now = time.monotonic()
        with self._lock:
            last = self._last.get(key)
            if last is not None and now - last < self._interval:
                self._suppressed[key] = self._suppressed.get(key, 0) + 1
                return
            self._last[key] = now
            held = self._suppressed.pop(key, 0)
        if held:
            message += f" ({held} similar messages suppressed)"
        logger.warning(message, *args)


# Loggers whose records are tl-otel's own lines: stderr only, never telemetry (the bridge asks is_own).
_own_loggers: tuple[str, ...] = (LOGGER_NAME,)


def is_own(logger_name: str) -> bool:
    return logger_name.startswith(_own_loggers)


def adopt(library_logger: str, level: int = logging.WARNING) -> None:
    """A library tl-otel drives (scout_apm) logs its own chatter - ``Registering with app=…`` at INFO on every
    connection - into whatever the application configured, and into the telemetry pipeline. Its records go
    where tl-otel's own go instead: stderr through tl-otel's handler, from ``level`` up, not propagated."""
    global _own_loggers
    if library_logger not in _own_loggers:
        _own_loggers += (library_logger,)
    library = logging.getLogger(library_logger)
    library.setLevel(level)
    library.propagate = False
    for handler in logger.handlers:
        if handler not in library.handlers:
            library.addHandler(handler)


# Libraries tl-otel drives say on its threads only what is worth an operator's attention.
OWN_THREAD_LEVEL = logging.WARNING


def say_own_thread_record(record: logging.LogRecord) -> None:
    """A record a library made on one of tl-otel's threads (urllib3 under PostHog's client, smtplib, Scout's
    client): tl-otel's own stderr at WARNING and above, like its own lines; never the application's handlers."""
    if record.levelno < max(OWN_THREAD_LEVEL, logger.getEffectiveLevel()):
        return
    for handler in logger.handlers:
        if record.levelno >= handler.level:
            handler.handle(record)
