"""The shared line writer behind the span, log and metric JSON exporters.

It writes to the process's original stdout/stderr file descriptors, not to ``sys.stdout``: Celery's
worker replaces ``sys.stdout`` with a logging proxy (a line written there would loop back into logging),
and test runners swap it out. One lock across the three exporters and one ``os.write`` per batch keep
lines whole: no line is ever split or interleaved with another of ours."""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Iterable

_DEFAULT_STDERR_LEVEL = 10_000  # above every level: everything to stdout


def _fileno(stream: object, fallback: int) -> int:
    try:
        return stream.fileno()  # type: ignore[attr-defined]
    except Exception:
        return fallback


class LineWriter:
    def __init__(self, stdout_fd: int | None = None, stderr_fd: int | None = None) -> None:
        self.stdout_fd = _fileno(sys.__stdout__, 1) if stdout_fd is None else stdout_fd
        self.stderr_fd = _fileno(sys.__stderr__, 2) if stderr_fd is None else stderr_fd
        self._lock = threading.Lock()
        os.register_at_fork(after_in_child=self._reset_lock)

    def _reset_lock(self) -> None:
        self._lock = threading.Lock()

    def write(self, lines: Iterable[tuple[int, bytes]], stderr_level: int = _DEFAULT_STDERR_LEVEL) -> int:
        """Write (level, line) pairs; lines at ``stderr_level`` or above go to stderr. Returns bytes written."""
        out: list[bytes] = []
        err: list[bytes] = []
        for level, line in lines:
            (err if level >= stderr_level else out).append(line)
        written = 0
        with self._lock:
            for fd, chunk in ((self.stdout_fd, out), (self.stderr_fd, err)):
                if chunk:
                    written += _write_all(fd, b"".join(chunk))
        return written


def _write_all(fd: int, data: bytes) -> int:
    view = memoryview(data)
    total = 0
    while total < len(data):
        try:
            total += os.write(fd, view[total:])
        except InterruptedError:
            continue
        except OSError:
            # stdout closed or a broken pipe: there is nowhere to report to; drop quietly.
            break
    return total


_shared: LineWriter | None = None
_shared_lock = threading.Lock()


def shared_writer() -> LineWriter:
    """The process-wide writer, so span, log and metric lines share one lock."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = LineWriter()
        return _shared
