"""tl-otel's own diagnostics logger.

It writes to stderr through its own handler and does not propagate, so tl-otel's messages never enter
the telemetry pipeline they describe (an export error logged into the exporter would loop)."""

from __future__ import annotations

import logging
import sys
import threading
import time

LOGGER_NAME = "tl_otel"

logger = logging.getLogger(LOGGER_NAME)


class _StderrHandler(logging.StreamHandler):
    def __init__(self) -> None:
        super().__init__(sys.__stderr__ or sys.stderr)
        self.setFormatter(logging.Formatter("tl-otel: %(levelname)s: %(message)s"))

    def format(self, record: logging.LogRecord) -> str:
        # tl-otel's own lines get the same redaction as telemetry: an exception text from an HTTP client
        # can hold a webhook path, a URL's password, a key.
        text = super().format(record)
        try:
            from tl_otel.redaction.redactor import current

            return current().scrub_text(text)
        except Exception:
            return text


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
