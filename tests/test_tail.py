"""``tl-otel tail``: recorded JSON-line streams of the example engine rendered as plain text, the ``--top`` figures,
the filters, following a file that grows, the ``--`` form with a real uvicorn, bounded memory and throughput.

``tail_streams/engine.jsonl`` is what ``./run demo`` wrote (its API's and worker's stdout merged line by line, as
two pods' logs are, so each trace's lines arrive out of order), with paths rewritten to /srv/tl-engine, plain text
and other JSON, a line cut short, and the alert engine's FIRING and RESOLVED lines added."""

from __future__ import annotations

import contextlib
import json
import math
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from examples.processes import free_port
from tests.conftest import REPO, clean_env
from tl_otel.cli import main

STREAMS = Path(__file__).parent / "tail_streams"
ENGINE = STREAMS / "engine.jsonl"


def tail(capsys, *args: str) -> tuple[str, str]:
    assert main(["tail", "--once", *args]) == 0
    captured = capsys.readouterr()
    return captured.out, captured.err


def expected(name: str, actual: str) -> str:
    path = STREAMS / name
    if os.environ.get("TL_OTEL_TAIL_WRITE_EXPECTED"):  # after a deliberate change of the view: review the diff
        path.write_text(actual)
    return path.read_text()


def stream_records() -> list[dict]:
    records = []
    for line in ENGINE.read_text().splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and record.get("type") in ("span", "log", "metric"):
            records.append(record)
    return records


def headers(out: str) -> list[str]:
    return [line for line in out.splitlines() if line.startswith(("▶", "✖"))]


def test_a_recorded_stream_becomes_trees_in_plain_text(capsys):
    out, err = tail(capsys, str(ENGINE))
    assert out == expected("engine.expected.txt", out)
    assert "\x1b" not in out and err == ""


def test_late_lines_of_a_shown_trace_continue_it(capsys):
    # With a short linger the API's part of a trace is shown before the worker's lines arrive.
    out, _ = tail(capsys, "--linger", "0.2", str(ENGINE))
    assert out == expected("engine.linger.expected.txt", out)
    assert "▶ … POST /executions continued  tl-engine-worker  trace a6e57f47e54e865a2bac9576bca48b73" in out


def test_lines_that_are_not_tl_otel_json_pass_through_unchanged_and_in_order(capsys):
    out, _ = tail(capsys, str(ENGINE))
    source = ENGINE.read_text().splitlines()
    foreign = [line for line in source if line.strip() and not (line.startswith('{"timestamp"')
                                                                 and line.endswith("}"))]
    assert len(foreign) > 10  # the celery banner, uvicorn's text, other JSON, the line cut short
    shown = [line for line in out.splitlines() if line in set(foreign)]
    assert shown == foreign


def test_errors_show_type_message_and_the_application_frame(capsys):
    out, _ = tail(capsys, "--errors", str(ENGINE))
    assert [h.split("  trace ")[1][:32] for h in headers(out)] == ["b25016a626974f65beaeba9808896ec8"]
    assert "✖ examples.engine.engines.EngineError: legacy importer rejected input with 1 fields\n" \
           "          at examples/engine/engines.py:29 in broken" in out
    assert "▲ ALERT FIRING  error rate 33.3% > 5% for worker tasks of tl-engine-worker (1 of 3)" in out
    assert "▼ ALERT RESOLVED" in out


def test_filters_by_trace_route_slow_and_service(capsys):
    def traces(*args: str) -> set[str]:
        out, _ = tail(capsys, *args, str(ENGINE))
        return {h.split("  trace ")[1][:32] for h in headers(out)}

    records = [r for r in stream_records() if r.get("span.kind") in ("server", "consumer")]
    assert traces("--trace", "83d881") == {"83d88123dc394ef007928c0eea537f51"}
    assert traces("--route", "GET /engines*") == {r["trace_id"] for r in records if r["message"].startswith(
        "GET /engines")}
    assert traces("--slow", "150") == {r["trace_id"] for r in records if r["duration_ms"] >= 150}
    assert traces("--service", "tl-engine-worker") == {r["trace_id"] for r in stream_records()
                                                       if r.get("service.name") == "tl-engine-worker"
                                                       and r.get("trace_id")}


def test_top_figures_are_those_of_the_stream(capsys):
    out, _ = tail(capsys, "--top", str(ENGINE))
    table = out[out.index("route / task"):].splitlines()
    rows = {}
    for line in table[1:-1]:
        name, rest = line[:34].strip(), line[35:].split()
        rows[name] = rest
    requests = [r for r in stream_records() if r.get("span.kind") in ("server", "consumer")]
    ends = [_end_s(r) for r in requests]
    covered = max(1.0, max(ends) - min(ends))
    for name in {r["message"] for r in requests}:
        mine = [r for r in requests if r["message"] == name]
        durations = sorted(r["duration_ms"] for r in mine)
        errors = sum(1 for r in mine if r["status"] == "error" or r.get("http.status_code", 0) >= 500)
        rank = {share: durations[math.ceil(share * len(durations)) - 1] for share in (0.5, 0.95, 0.99)}
        slowest = max(mine, key=lambda r: r["duration_ms"])["trace_id"]
        service, rate, count, error_count, _share, p50, p95, p99, trace = rows[name]
        assert (service, int(count), int(error_count), trace) == (mine[0]["service.name"], len(mine), errors, slowest)
        assert float(rate) == pytest.approx(len(mine) / covered, abs=0.006)
        assert (float(p50), float(p95.rstrip("!")), float(p99)) == pytest.approx(
            (rank[0.5], rank[0.95], rank[0.99]), abs=0.051)
    # worst first: the task with a failure in three runs (33 % > the 5 % the error-rate rule allows) leads
    assert next(iter(rows)) == "run/tl_engine.execute" and rows["run/tl_engine.execute"][4] == "33%!"


def _end_s(record: dict) -> float:
    from tl_otel.tail.records import start_ns

    return (start_ns(record["timestamp"]) + record["duration_ms"] * 1e6) / 1e9


def test_the_rich_view_colours_and_a_missing_rich_is_said_once(tmp_path):
    coloured = subprocess.run([sys.executable, "-m", "tl_otel.cli", "tail", "--once", "--view", "live", str(ENGINE)],
                              capture_output=True, text=True, env=clean_env(), timeout=120)
    assert coloured.returncode == 0 and "\x1b[" in coloured.stdout and "EngineError" in coloured.stdout
    without = subprocess.run([sys.executable, "-c", "import sys; sys.modules['rich'] = None; "
                              "from tl_otel.cli import main; sys.exit(main(sys.argv[1:]))",
                              "tail", "--once", "--view", "live", str(ENGINE)],
                             capture_output=True, text=True, env=clean_env(), timeout=120)
    assert without.returncode == 0
    assert without.stderr == ("tl-otel tail: the interactive view needs rich (pip install 'tl-otel[tail]'); "
                              "writing plain text instead\n")
    assert without.stdout == (STREAMS / "engine.expected.txt").read_text()


def _span_line(trace: str, span: str, parent: str | None, name: str, kind: str, start_s: float, ms: float) -> str:
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(1_800_000_000 + int(start_s)))
    return json.dumps({"timestamp": f"{stamp}.{int(start_s % 1 * 1e6):06d}Z", "level": "INFO", "type": "span",
                       "logger": "t", "message": name, "trace_id": trace, "span_id": span, "parent_span_id": parent,
                       "service.name": "svc", "process.pid": 1, "span.kind": kind, "duration_ms": ms,
                       "status": "unset", "http.route": name, "http.status_code": 200})


def test_memory_is_bounded_for_traces_that_never_end(capsys, tmp_path):
    # 30 traces whose root never comes, each with 20 internal spans: at most 10 open, 5 lines each.
    lines = [_span_line(f"{t:032x}", f"{t:08x}{s:08x}", f"{t:08x}{0:08x}", f"step {s}", "internal", t * 0.01, 1.0)
             for t in range(1, 31) for s in range(1, 21)]
    path = tmp_path / "open.jsonl"
    path.write_text("\n".join(lines) + "\n")
    out, err = tail(capsys, "--max-traces", "10", "--max-lines", "5", str(path))
    assert len(headers(out)) == 30
    assert out.count("… shown before it ended: more open traces than --max-traces") == 20
    assert out.count("… 15 more lines of this trace dropped (over --max-lines)") == 30
    assert err == ("tl-otel tail: 20 traces shown before they ended (more open than --max-traces 10), "
                   "450 lines dropped (over --max-lines 5 in one trace)\n")


def test_lines_per_second_it_keeps_up_with(tmp_path):
    """Prints the rate (docs/tail.md states it); asserts only that every trace was shown."""
    import io

    from tl_otel.tail.filters import Filters
    from tl_otel.tail.output import PlainOutput
    from tl_otel.tail.session import TailSession
    from tl_otel.tail.traces import TraceBuffer

    lines = []
    for t in range(1, 5001):  # a request with 3 child spans and a log line, as the engine's API writes them
        trace, root = f"{t:032x}", f"{t:016x}"
        for s in range(1, 4):
            lines.append(_span_line(trace, f"{t:08x}{s:08x}", root, "SELECT", "client", t * 0.01, 2.0))
        lines.append(json.dumps({"timestamp": "2027-01-15T08:00:00.000000Z", "level": "INFO", "type": "log",
                                 "logger": "app", "message": "served", "trace_id": trace, "span_id": root,
                                 "service.name": "svc", "process.pid": 1, "engine_id": "engine-123"}))
        lines.append(_span_line(trace, root, None, "GET /items/{id}", "server", t * 0.01, 9.0))
    sink = io.StringIO()
    session = TailSession(PlainOutput(sink), TraceBuffer(), Filters())
    started = time.perf_counter()
    for line in lines:
        session.feed(line, 0.0)
        session.tick(None)
    session.finish()
    elapsed = time.perf_counter() - started
    print(f"\ntl-otel tail: {len(lines) / elapsed:,.0f} lines/s ({len(lines)} lines, 5,000 traces, plain text)")
    assert sink.getvalue().count("▶ GET /items/{id}") == 5000


class Output:
    """A process's stdout, read on a thread, so the test can wait for what it expects with a deadline."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.text = ""
        self._thread = threading.Thread(target=self._read, args=(process,), daemon=True)
        self._thread.start()

    def _read(self, process: subprocess.Popen[str]) -> None:
        for line in process.stdout:  # type: ignore[union-attr]
            self.text += line

    def wait_for(self, *needles: str, timeout: float = 90.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(needle in self.text for needle in needles):
                return self.text
            time.sleep(0.05)
        raise AssertionError(f"not seen within {timeout} s: {needles}\n--- output:\n{self.text}")


def _wait_read_to_end(pid: int, path: Path, timeout: float = 60.0) -> None:
    """Until the process's open file description of ``path`` stands at the file's end (from /proc)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            with contextlib.suppress(OSError):
                if os.readlink(fd) == str(path):
                    position = int(Path(f"/proc/{pid}/fdinfo/{fd.name}").read_text().split()[1])
                    if position == path.stat().st_size:
                        return
        time.sleep(0.02)
    raise AssertionError(f"{path} not read to its end within {timeout} s")


def test_a_file_that_grows_is_followed(tmp_path):
    path = tmp_path / "app.log"
    path.write_text("plain text before\n")
    process = subprocess.Popen([sys.executable, "-m", "tl_otel.cli", "tail", "--linger", "0.3", str(path)],
                               stdout=subprocess.PIPE, text=True, env=clean_env())
    try:
        output = Output(process)
        output.wait_for("plain text before")
        child = _span_line("ab" * 16, "00000000000000c1", "00000000000000a1", "SELECT", "client", 1.0, 2.0)
        root = _span_line("ab" * 16, "00000000000000a1", None, "GET /grown", "server", 1.0, 5.0)
        with path.open("a") as handle:
            handle.write(child + "\n" + root[:40])  # the root's line is written in two parts
            handle.flush()
            _wait_read_to_end(process.pid, path)  # tail has read the first part before the rest is written
            handle.write(root[40:] + "\n")
        output.wait_for("▶ GET /grown  200  5.00 ms  svc  trace " + "ab" * 16,
                        "    SELECT                                     client   ━━━━━━━━━━··············   2.00 ms")
        with path.open("a") as handle:
            handle.write("more plain text\n")
        text = output.wait_for("more plain text")
        assert "GET /grown\", \"trace_id" not in text  # the line written in two parts was read as one
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=60)


@pytest.mark.e2e
def test_the_command_form_reads_a_real_uvicorn(tmp_path):
    port = free_port()
    command = [sys.executable, "-m", "tl_otel.cli", "tail", "--linger", "0.3", "--",
               str(Path(sys.executable).parent / "opentelemetry-instrument"), sys.executable, "-m", "uvicorn",
               "tests.apps.server_errors:app", "--port", str(port), "--no-access-log"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, cwd=REPO,
                               env=clean_env(OTEL_SERVICE_NAME="shop-api", TL_OTEL_ALERT_EVAL_INTERVAL_S="3600"))
    output = Output(process)
    try:
        output.wait_for("Uvicorn running on")  # uvicorn's own text (stderr) passes through
        for path in ("/ok", "/boom"):
            with contextlib.suppress(urllib.error.HTTPError):
                urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=30).read()
        text = output.wait_for("▶ GET /ok  200", "✖ GET /boom  500")
    finally:
        children = Path(f"/proc/{process.pid}/task/{process.pid}/children").read_text().split()
        for child in children:
            os.kill(int(child), signal.SIGTERM)
        status = process.wait(timeout=60)
    ok = text[text.index("▶ GET /ok"):]
    assert "INFO    served ok  route_name=ok" in ok.split("\n\n")[0]
    boom = text[text.index("✖ GET /boom"):].split("\n\n")[0]
    assert "✖ tests.apps.server_errors.ChargeFailed: card declined" in boom
    assert "at tests/apps/server_errors.py:19 in boom" in boom
    assert status in (0, 128 + signal.SIGTERM)  # the command's own exit status


def test_the_samples_in_docs_tail_md_are_what_tail_writes(capsys, tmp_path):
    """docs/tail.md shows the recorded stream's JSON lines (the plain text left out) as tail shows them."""
    json_only = tmp_path / "engine.jsonl"
    json_only.write_text("".join(line + "\n" for line in ENGINE.read_text().splitlines()
                                 if line.startswith('{"timestamp"') and line.endswith("}")))
    page_path = REPO / "docs" / "tail.md"
    page = page_path.read_text()
    for name, args in (("trees", ("--service", "tl-engine-worker")), ("top", ("--top",))):
        out, _ = tail(capsys, *args, str(json_only))
        begin, end = f"<!-- sample: {name} -->\n```text\n", f"```\n<!-- end of sample: {name} -->"
        before, rest = page.split(begin, 1)
        page = before + begin + out.rstrip("\n") + "\n" + end + rest.split(end, 1)[1]
    if os.environ.get("TL_OTEL_TAIL_WRITE_EXPECTED"):
        page_path.write_text(page)
    assert page == page_path.read_text(), "regenerate: TL_OTEL_TAIL_WRITE_EXPECTED=1 pytest tests/test_tail.py"


def test_several_saved_files_are_read_in_time_order(capsys, tmp_path):
    """One file per process, as `kubectl logs` of each pod gives them: read as one stream in time order."""
    by_service: dict[str, list[str]] = {"tl-engine-worker": [], "tl-engine-api": []}  # the worker's file first
    for line in ENGINE.read_text().splitlines():
        if line.startswith('{"timestamp"') and line.endswith("}"):
            by_service[json.loads(line)["service.name"]].append(line)
    paths = []
    for service, lines in by_service.items():
        paths.append(tmp_path / f"{service}.log")
        paths[-1].write_text("\n".join(lines) + "\n")
    # with a short linger the worker's part of a trace is a continuation of the API's, which happened first
    out, _ = tail(capsys, "--linger", "0.5", *map(str, paths))
    assert [h for h in headers(out) if "run/tl_engine.execute" in h.split("  ")[0]] == []
    assert "▶ … POST /executions continued  tl-engine-worker" in out
    out, _ = tail(capsys, *map(str, paths))
    assert "continued" not in out
    both = [h for h in headers(out) if "tl-engine-api, tl-engine-worker" in h]
    assert len(both) == 3 and all(h.split("  ")[0].endswith("POST /executions") for h in both)


def test_top_says_which_alert_setting_it_could_not_take(tmp_path):
    ran = subprocess.run([sys.executable, "-m", "tl_otel.cli", "tail", "--once", "--top", str(ENGINE)],
                         capture_output=True, text=True, env=clean_env(TL_OTEL_ALERT_LATENCY_MS="fast"), timeout=120)
    assert ran.returncode == 0 and "p95 > 1000 ms" in ran.stdout  # the default threshold is used
    [warning] = ran.stderr.splitlines()
    assert warning.startswith("warning: ") and "TL_OTEL_ALERT_LATENCY_MS" in warning and "'fast'" in warning


def test_escape_sequences_in_the_applications_text_never_reach_the_terminal(capsys, tmp_path):
    # A client can put ESC into a route or a message; JSON carries it escaped, json.loads gives it back raw.
    records = stream_records()
    planted = tmp_path / "escapes.jsonl"
    for record in records:
        if record.get("type") in ("span", "log"):
            record["message"] = f"{record.get('message')}\x1b]0;owned\x07\x1b[2J"
    planted.write_text("".join(json.dumps(record) + "\n" for record in records))
    out, _ = tail(capsys, str(planted))
    assert "owned" in out
    assert "\x1b" not in out and "\x07" not in out
