"""Where lines come from: files (read to their end, or followed as they grow, like ``tail -f``), stdin, or the
stdout and stderr of a command ``tl-otel tail`` runs. Live inputs are read on threads of their own into one
queue, so a quiet input never holds back another, and the reader of the queue can act when nothing comes."""

from __future__ import annotations

import heapq
import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import BinaryIO

FOLLOW_POLL_S = 0.1
ENDED = None  # what a reader puts on the queue when its input has ended


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", errors="replace").rstrip("\r\n")


def read_file(path: str) -> Iterator[str]:
    """The file's lines up to its end; a last line without its newline (cut short) is a line too."""
    with open(path, "rb") as handle:
        for raw in handle:
            yield _text(raw)


_STAMP = '{"timestamp":"'


def _timed(path: str, order: int) -> Iterator[tuple[str, int, int, str]]:
    """A file's lines keyed by their timestamp (RFC 3339 UTC sorts as text); a line without one (plain text)
    keeps the key of the line before it, so it stays where its file put it."""
    key = ""
    for number, line in enumerate(read_file(path)):
        if line.startswith(_STAMP):
            key = line[len(_STAMP):len(_STAMP) + 27]
        yield key, order, number, line


def read_files_merged(paths: list[str]) -> Iterator[str]:
    """Several saved files (one per process or pod) as one stream in time order: each file's own order is kept,
    and a trace whose lines are spread over the files is assembled as if it had been read live."""
    if len(paths) == 1:
        yield from read_file(paths[0])
        return
    for _, _, _, line in heapq.merge(*(_timed(path, order) for order, path in enumerate(paths))):
        yield line


def follow_file(path: str, lines: queue.Queue[str | None], stop: threading.Event) -> None:
    """Like ``tail -f`` from the start of the file: a line is given once its newline is written; a file that is
    truncated or replaced (log rotation) is read again from its start."""
    handle: BinaryIO | None = None
    pending = b""
    identity = None
    while not stop.is_set():
        if handle is None:
            try:
                handle = open(path, "rb")  # noqa: SIM115 (held open while following)
                identity = os.fstat(handle.fileno()).st_ino
            except OSError:
                stop.wait(FOLLOW_POLL_S)
                continue
        chunk = handle.readline()
        if chunk:
            pending += chunk
            if pending.endswith(b"\n"):
                lines.put(_text(pending))
                pending = b""
            continue
        try:
            status = os.stat(path)
            replaced = status.st_ino != identity or status.st_size < handle.tell()
        except OSError:
            replaced = False
        if replaced:
            handle.close()
            handle, pending = None, b""
            continue
        stop.wait(FOLLOW_POLL_S)
    if handle is not None:
        handle.close()


def pump(stream: BinaryIO, lines: queue.Queue[str | None]) -> None:
    try:
        for raw in iter(stream.readline, b""):
            lines.put(_text(raw))
    except (OSError, ValueError):
        pass
    finally:
        lines.put(ENDED)


class LiveInput:
    """The queue and its readers; ``ended`` once every finite reader (stdin, a command's pipes) is done."""

    def __init__(self) -> None:
        self.lines: queue.Queue[str | None] = queue.Queue(maxsize=100_000)
        self.stop = threading.Event()
        self.finite = 0
        self.following = False
        self.process: subprocess.Popen[bytes] | None = None

    def _start(self, target: object, *args: object) -> None:
        threading.Thread(target=target, args=args, daemon=True, name="tl-otel-tail-input").start()  # type: ignore[arg-type]

    def add_files(self, paths: list[str]) -> None:
        self.following = self.following or bool(paths)
        for path in paths:
            self._start(follow_file, path, self.lines, self.stop)

    def add_stdin(self) -> None:
        self.finite += 1
        self._start(pump, sys.stdin.buffer, self.lines)

    def add_command(self, command: list[str]) -> None:
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for stream in (self.process.stdout, self.process.stderr):
            self.finite += 1
            self._start(pump, stream, self.lines)

    def batches(self, wait_s: float) -> Iterator[list[str] | None]:
        """Lines as they come, in batches; ``None`` after ``wait_s`` without any (a moment to act on time)."""
        while True:
            try:
                first = self.lines.get(timeout=wait_s)
            except queue.Empty:
                yield None
                continue
            batch = []
            item: str | None = first
            while True:
                if item is ENDED:
                    self.finite -= 1
                else:
                    batch.append(item)
                if len(batch) >= 1000:
                    break
                try:
                    item = self.lines.get_nowait()
                except queue.Empty:
                    break
            yield batch
            if self.finite <= 0 and not self.following:
                return

    def close(self, deadline_s: float = 5.0) -> int | None:
        self.stop.set()
        if self.process is None:
            return None
        end = time.monotonic() + deadline_s
        while self.process.poll() is None and time.monotonic() < end:
            time.sleep(0.05)
        if self.process.poll() is None:
            self.process.terminate()
        return self.process.wait()
