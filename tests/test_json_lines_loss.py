"""JSON lines written into a pipe whose reader is gone or slow: a line is written whole or counted as lost
(with its reason), never cut, and never counted as exported; one WARNING says what was lost."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tests.conftest import REPO, clean_env

APP = """
    import fcntl, json, logging, os, sys, time
    import tl_otel
    from opentelemetry import trace

    go, report, nonblocking = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
    if nonblocking:
        fcntl.fcntl(1, fcntl.F_SETFL, fcntl.fcntl(1, fcntl.F_GETFL) | os.O_NONBLOCK)
    tl_otel.configure(service_name="svc", instrument=False)
    tracer = trace.get_tracer("t")
    with tracer.start_as_current_span("GET /first", kind=trace.SpanKind.SERVER):
        pass
    tl_otel.force_flush(30)
    os.write(2, b"first-flushed\\n")
    while not os.path.exists(go):  # the test closes or slows its end of the pipe first
        time.sleep(0.01)
    log = logging.getLogger("app")
    for i in range(100):
        with tracer.start_as_current_span(f"GET /item/{i}", kind=trace.SpanKind.SERVER):
            log.warning("line %d %s", i, "x" * 3000)
        if i % 10 == 9:
            tl_otel.force_flush(30)
    tl_otel.force_flush(60)
    with open(report, "w") as out:
        json.dump(tl_otel.health(), out)
    tl_otel.shutdown(10)
"""


def _start(tmp_path: Path, nonblocking: bool) -> tuple[subprocess.Popen, Path, Path]:
    go, report = tmp_path / "go", tmp_path / "health.json"
    process = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(APP), str(go), str(report), "1" if nonblocking else "0"],
        env=clean_env(OTEL_TRACES_EXPORTER="json", OTEL_LOGS_EXPORTER="json", OTEL_METRICS_EXPORTER="none"),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=REPO)
    assert process.stderr is not None
    before = b""
    while b"first-flushed" not in before:  # tl-otel's start-up line comes first
        line = process.stderr.readline()
        assert line, before
        before += line
    return process, go, report


def _json(name: str, entry: dict) -> dict:
    return entry["destinations"][name]


@pytest.mark.e2e
def test_lines_into_a_closed_pipe_are_counted_failed_and_warned_about(tmp_path):
    process, go, report = _start(tmp_path, nonblocking=False)
    assert process.stdout is not None
    first_line = process.stdout.readline()  # `app | head -1`
    assert json.loads(first_line)["message"] == "GET /first"
    process.stdout.close()
    go.touch()
    stderr = process.stderr.read().decode()
    assert process.wait(120) == 0, stderr[-3000:]
    health = json.loads(report.read_text())
    spans, logs = _json("traces-json", health["traces"]), _json("logs-json", health["logs"])
    assert (spans["exported"], spans["failed"], spans["by_reason"]) == (1, 100, {"BrokenPipeError": 100})
    assert (logs["exported"], logs["failed"], logs["by_reason"]) == (0, 100, {"BrokenPipeError": 100})
    assert "destination traces-json: started losing items (export failed: BrokenPipeError" in stderr
    assert "destination logs-json: started losing items (export failed: BrokenPipeError" in stderr


@pytest.mark.e2e
def test_a_slow_reader_of_a_nonblocking_stdout_gets_every_line_whole(tmp_path):
    process, go, report = _start(tmp_path, nonblocking=True)
    assert process.stdout is not None
    go.touch()
    received = b""
    while chunk := process.stdout.read1(4096):
        received += chunk
        time.sleep(0.002)  # a reader slower than the writer: the pipe fills and the writer meets EAGAIN
    stderr = process.stderr.read().decode()
    assert process.wait(120) == 0, stderr[-3000:]
    lines = received.splitlines()
    assert received.endswith(b"\n")
    parsed = [json.loads(line) for line in lines]  # a cut line would not parse
    health = json.loads(report.read_text())
    spans, logs = _json("traces-json", health["traces"]), _json("logs-json", health["logs"])
    assert (spans["exported"], spans["failed"]) == (101, 0)
    assert (logs["exported"], logs["failed"]) == (100, 0)
    assert sum(1 for r in parsed if r["type"] == "span") == 101
    assert sum(1 for r in parsed if r["type"] == "log") == 100
