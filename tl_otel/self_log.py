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


def adopt(library_logger: str, level: int = logging.WARNING) -> None:
    """A library tl-otel drives (scout_apm) logs its own chatter - ``Registering with app=…`` at INFO on every
    connection - into whatever the application configured, and into the telemetry pipeline. Its records go
    where tl-otel's own go instead: stderr through tl-otel's handler, from ``level`` up, not propagated."""
    library = logging.getLogger(library_logger)
    library.setLevel(level)
    library.propagate = False
    for handler in logger.handlers:
        if handler not in library.handlers:
            library.addHandler(handler)
