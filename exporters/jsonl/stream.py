"""The shared line writer behind the span, log and metric JSON exporters.

It writes to the process's original stdout/stderr file descriptors, not to ``sys.stdout``: Celery's
worker replaces ``sys.stdout`` with a logging proxy (a line written there would loop back into logging),
and test runners swap it out. One lock across the three exporters keeps lines whole: no line is ever split
or interleaved with another of ours.

A line is written whole or counted as lost, with its reason: a reader that went away (``app | head -1``)
makes every later line fail with ``BrokenPipeError``; a non-blocking descriptor whose reader is slow
(``EAGAIN``) is waited on until it takes more, and given up on only between lines after ``STALL_LIMIT``
seconds without progress (a line already begun gets ``CUT_LIMIT`` seconds to finish)."""

from __future__ import annotations

import os
import select
import sys
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

_DEFAULT_STDERR_LEVEL = 10_000  # above every level: everything to stdout
# Seconds a non-blocking descriptor may take nothing before the lines not yet begun are given up on: the
# export worker holds the shared lock meanwhile, and its destination's shutdown deadline counts what is
# still in flight as unconfirmed.
STALL_LIMIT = 5.0
# A line already partly written is finished if the reader takes it within this long: cutting it would leave
# half a JSON object in the reader's stream.
CUT_LIMIT = 30.0
STALLED = "stdout_not_writable"


def _fileno(stream: object, fallback: int) -> int:
    try:
        return stream.fileno()  # type: ignore[attr-defined]
    except Exception:
        return fallback


@dataclass
class WriteOutcome:
    """Lines written whole, and lines lost by reason."""

    written: int = 0
    lost: dict[str, int] = field(default_factory=dict)

    def lose(self, reason: str, count: int) -> None:
        if count:
            self.lost[reason] = self.lost.get(reason, 0) + count


class LineWriter:
    def __init__(self, stdout_fd: int | None = None, stderr_fd: int | None = None) -> None:
        self.stdout_fd = _fileno(sys.__stdout__, 1) if stdout_fd is None else stdout_fd
        self.stderr_fd = _fileno(sys.__stderr__, 2) if stderr_fd is None else stderr_fd
        self._lock = threading.Lock()
        os.register_at_fork(after_in_child=self._reset_lock)

    def _reset_lock(self) -> None:
        self._lock = threading.Lock()

    def write(self, lines: Iterable[tuple[int, bytes]], stderr_level: int = _DEFAULT_STDERR_LEVEL) -> WriteOutcome:
        """Write (level, line) pairs; lines at ``stderr_level`` or above go to stderr."""
        out: list[bytes] = []
        err: list[bytes] = []
        for level, line in lines:
            (err if level >= stderr_level else out).append(line)
        outcome = WriteOutcome()
        with self._lock:
            for fd, chunk in ((self.stdout_fd, out), (self.stderr_fd, err)):
                if chunk:
                    _write_lines(fd, chunk, outcome)
        return outcome


def _wait_writable(fd: int, timeout: float) -> None:
    poller = select.poll()
    poller.register(fd, select.POLLOUT)
    poller.poll(max(0, int(timeout * 1000)))


def _write_lines(fd: int, lines: list[bytes], outcome: WriteOutcome) -> None:
    """Write ``lines`` as one stream (one ``write`` in the common case), line boundaries tracked so a failure
    counts the lines it lost whole."""
    data = b"".join(lines)
    view = memoryview(data)
    ends: list[int] = []
    end = 0
    for line in lines:
        end += len(line)
        ends.append(end)
    total = 0
    last_progress = time.monotonic()
    while total < len(data):
        try:
            total += os.write(fd, view[total:])
            last_progress = time.monotonic()
        except BlockingIOError:
            whole = _whole_lines(ends, total)
            at_boundary = total == (ends[whole - 1] if whole else 0)
            limit = STALL_LIMIT if at_boundary else CUT_LIMIT
            stalled = time.monotonic() - last_progress
            if stalled >= limit:
                outcome.lose(STALLED if at_boundary else "line_cut_reader_stalled", 1)
                outcome.lose(STALLED, len(lines) - whole - 1)
                break
            _wait_writable(fd, min(0.5, limit - stalled))
        except InterruptedError:
            continue
        except OSError as exc:
            # The reader went away or the descriptor was closed: the rest, a begun line included, is lost.
            outcome.lose(type(exc).__name__, len(lines) - _whole_lines(ends, total))
            break
    outcome.written += _whole_lines(ends, total)


def _whole_lines(ends: list[int], total: int) -> int:
    """How many lines ``total`` bytes hold whole."""
    low, high = 0, len(ends)
    while low < high:
        middle = (low + high) // 2
        if ends[middle] <= total:
            low = middle + 1
        else:
            high = middle
    return low


_shared: LineWriter | None = None
_shared_lock = threading.Lock()


def shared_writer() -> LineWriter:
    """The process-wide writer, so span, log and metric lines share one lock."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = LineWriter()
        return _shared
