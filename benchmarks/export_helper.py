"""Issue #16 item 8, measured: exporting from a helper process.

The application's process keeps everything up to the dispatcher (the application thread's span processors,
redaction, the compact records of ``tl_otel.pipeline.span_record`` / ``log_record``); its only destination is a
pipe to a helper process, which gets each batch of records serialised once (``marshal``: the records are plain
tuples) and runs tl-otel's real JSON, PostHog and Scout exporters on them, each taking what its ``wants`` keeps.
A prototype for measurement, not a product feature: it has none of the pipeline's delivery guarantees across
the pipe (a dead helper loses what it held, nothing is counted).

``python -m benchmarks.export_helper`` is the helper: length-prefixed frames on stdin (``S``/``L`` + marshal of
a list of span/log records; an empty frame asks for a flush, answered with one line on stdout)."""

from __future__ import annotations

import marshal
import os
import struct
import subprocess
import sys
import threading
from collections.abc import Sequence
from typing import Any

from examples.processes import REPO

_HEADER = struct.Struct(">I")
SPANS, LOGS = b"S", b"L"


class HelperProcess:
    """The application's side: one helper process and the pipe to it."""

    def __init__(self, env: dict[str, str] | None = None) -> None:
        self._process = subprocess.Popen([sys.executable, "-m", "benchmarks.export_helper"], cwd=REPO,
                                         stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                         env={**os.environ, **(env or {}), "PYTHONPATH": str(REPO)})
        self._lock = threading.Lock()

    @property
    def pid(self) -> int:
        return self._process.pid

    def send(self, kind: bytes, records: Sequence[Any]) -> None:
        payload = kind + marshal.dumps(list(records))
        with self._lock:
            self._process.stdin.write(_HEADER.pack(len(payload)) + payload)  # type: ignore[union-attr]
            self._process.stdin.flush()  # type: ignore[union-attr]

    def flush(self) -> None:
        with self._lock:
            self._process.stdin.write(_HEADER.pack(0))  # type: ignore[union-attr]
            self._process.stdin.flush()  # type: ignore[union-attr]
            self._process.stdout.readline()  # type: ignore[union-attr]

    def stop(self) -> None:
        with self._lock:
            self._process.stdin.close()  # type: ignore[union-attr]
        self._process.wait(30)


class PipeExporter:
    """The application's one destination per signal: records in, a frame to the helper out."""

    tl_otel_reads_records = True
    tl_otel_accepts_unsampled = True
    preferred_batch_items = 512
    batch_linger = 0.2

    def __init__(self, helper: HelperProcess, kind: bytes) -> None:
        self.helper = helper
        self.kind = kind

    def export(self, batch: Sequence[Any]) -> None:
        self.helper.send(self.kind, batch)

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        self.helper.flush()
        return True

    def shutdown(self) -> None:
        return None


def move_exports_to_helper(runtime: Any, helper: HelperProcess) -> None:
    """Make a configured runtime's span and log pipelines hand everything to the helper instead of exporting
    in this process (the application thread's processors and the dispatcher's redaction stay as they are)."""
    from tl_otel.pipeline import log_record, span_record
    from tl_otel.pipeline.destination import Destination

    for fanout, kind, record in ((runtime.span_fanout, SPANS, span_record.from_span),
                                 (runtime.log_fanout, LOGS, log_record.from_log)):
        if fanout is None:
            continue
        destination = Destination(f"helper-{kind.decode()}", PipeExporter(helper, kind), fanout.capacity,
                                  takes_records=True)
        fanout.destinations = [destination]
        fanout.record = record


# -- the helper process ------------------------------------------------------------------------------------
def _exporters() -> tuple[list[tuple[Any, bool]], list[Any]]:
    """tl-otel's own exporters, built from the same settings the application's process has."""
    from tl_otel.exporters.jsonl.logs import JsonLogExporter
    from tl_otel.exporters.jsonl.spans import JsonSpanExporter
    from tl_otel.exporters.jsonl.stream import LineWriter
    from tl_otel.exporters.posthog.spans import PostHogSpanExporter
    from tl_otel.exporters.scout.exporter import ScoutSpanExporter
    from tl_otel.settings import resolve

    settings = resolve()
    devnull = os.open(os.devnull, os.O_WRONLY)
    json_spans, json_logs = JsonSpanExporter.from_settings(settings), JsonLogExporter.from_settings(settings)
    json_spans.options.writer = json_logs.options.writer = LineWriter(devnull, devnull)
    spans: list[tuple[Any, bool]] = [(json_spans, False)]
    logs: list[Any] = [json_logs]
    if settings.posthog_api_key:
        posthog = PostHogSpanExporter.from_settings(settings)
        spans.append((posthog, True))
        logs.append(posthog.log_companion())
    if settings.scout_key:
        spans.append((ScoutSpanExporter.from_settings(settings), False))
    return spans, logs


def main() -> None:
    from tl_otel.pipeline.span_record import SAMPLED

    spans, logs = _exporters()
    source, answer = sys.stdin.buffer, sys.stdout.buffer
    while True:
        header = source.read(_HEADER.size)
        if len(header) < _HEADER.size:
            break
        (length,) = _HEADER.unpack(header)
        if length == 0:
            for exporter, _ in spans:
                exporter.force_flush()
            answer.write(b"flushed\n")
            answer.flush()
            continue
        payload = source.read(length)
        records = marshal.loads(payload[1:])
        if payload[:1] == SPANS:
            for exporter, takes_unsampled in spans:
                wants = getattr(exporter, "wants", None)
                kept = [record for record in records
                        if (takes_unsampled or record[SAMPLED]) and (wants is None or wants(record))]
                if kept:
                    exporter.export(kept)
        else:
            for exporter in logs:
                wants = getattr(exporter, "wants", None)
                kept = [record for record in records if wants is None or wants(record)]
                if kept:
                    exporter.export(kept)
    for exporter, _ in spans:
        exporter.shutdown()


if __name__ == "__main__":
    main()
