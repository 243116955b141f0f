"""JSON log lines per second: the exporter alone on one core (pre-built records, written to /dev/null),
and end to end (logging.info through the bridge and pipeline) in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from opentelemetry._logs import SeverityNumber
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor

from examples.processes import REPO
from tl_otel.exporters.jsonl.base import JsonLinesOptions
from tl_otel.exporters.jsonl.logs import JsonLogExporter
from tl_otel.exporters.jsonl.stream import LineWriter

END_TO_END = """
import logging, os, time, tl_otel
tl_otel.configure(service_name="bench", settings={"log_queue_size": 200000, "log_batch_size": 2048})
log = logging.getLogger("tl-engine")
count = int(os.environ["BENCH_LINES"])
started = time.perf_counter()
for index in range(count):
    log.info("Engine executed", extra={"engine_id": "engine-123", "duration_ms": 150, "status": "success"})
emitted = time.perf_counter() - started
tl_otel.shutdown(60)
total = time.perf_counter() - started
os.write(2, f"{count / emitted:.0f} {count / total:.0f}".encode())
"""


def records(count: int) -> list:
    memory = InMemoryLogRecordExporter()
    provider = LoggerProvider(shutdown_on_exit=False)
    provider.add_log_record_processor(SimpleLogRecordProcessor(memory))
    logger = provider.get_logger("tl-engine")
    for index in range(count):
        logger.emit(body="Engine executed", severity_number=SeverityNumber.INFO, severity_text="INFO",
                    attributes={"engine_id": f"engine-{index}", "duration_ms": 150, "status": "success",
                                "code.file.path": "/srv/engine/worker.py", "code.function.name": "execute",
                                "code.line.number": 42})
    return list(memory.get_finished_logs())


def run(lines: int = 100_000) -> None:
    batch = records(2048)
    with open(os.devnull, "wb") as sink:
        exporter = JsonLogExporter(JsonLinesOptions(writer=LineWriter(sink.fileno(), sink.fileno())))
        started, written = time.process_time(), 0
        while written < lines:
            exporter.export(batch)
            written += len(batch)
        cpu = time.process_time() - started
    print(f"\nJSON log exporter alone: {written / cpu:,.0f} lines per CPU-second ({written} lines)")
    env = {key: value for key, value in os.environ.items() if not key.startswith(("OTEL_", "TL_OTEL_"))}
    env.update(PYTHONPATH=str(REPO), BENCH_LINES=str(lines))
    done = subprocess.run([sys.executable, "-c", END_TO_END], env=env, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True, check=True)
    emitted, total = done.stderr.split()[-2:]
    print(f"logging.info end to end: {int(emitted):,} records/s on the application thread, "
          f"{int(total):,} lines/s including the final flush")
