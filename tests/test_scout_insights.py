"""What Scout's insight views need beyond names (Memory Bloat, allocations, slow-query and N+1 backtraces),
taken on the application's thread by the Scout capture processor: end to end against the fake core agent
under ``configure()`` and under the launcher, and at unit level (what is taken, and when nothing is)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF
from opentelemetry.trace import SpanKind

from examples.peers.fake_core_agent import FakeCoreAgent, summarise
from tests.conftest import BIN, REPO, clean_env
from tl_otel.exporters.scout.capture import (
    ALLOCATIONS_START,
    ALLOCATIONS_STOP,
    MEM_DELTA,
    STACK,
    RssReader,
    ScoutCaptureProcessor,
)
from tl_otel.exporters.scout.commands import measured_tags, stack_frames

APP = REPO / "tests" / "apps" / "scout_insights.py"


def _line_of(marker: str) -> int:
    return next(number for number, line in enumerate(APP.read_text().splitlines(), 1) if marker in line)


def run_app(tmp_path: Path, launcher: bool, *args: str, **env: str) -> tuple[list[dict], str]:
    socket_path = str(tmp_path / "agent.sock")
    agent = FakeCoreAgent(socket_path)
    environment = clean_env(SCOUT_KEY="abcdefghij0123456789", SCOUT_CORE_AGENT_SOCKET_PATH=socket_path,
                            SCOUT_CORE_AGENT_LAUNCH="false", **env)
    command = [sys.executable, "-m", "tests.apps.scout_insights", "launcher" if launcher else "configure", *args]
    if launcher:
        environment.update(OTEL_SERVICE_NAME="insights", OTEL_TRACES_EXPORTER="scout", OTEL_LOGS_EXPORTER="none",
                           OTEL_METRICS_EXPORTER="none")
        command = [str(BIN / "opentelemetry-instrument"), *command]
    try:
        done = subprocess.run(command, env=environment, cwd=REPO, capture_output=True, text=True, timeout=180)
        assert done.returncode == 0, done.stderr[-3000:]
        assert agent.wait_for(lambda: len(agent.requests()) >= 3, timeout=20), agent.messages
        return [summarise(commands) for commands in agent.requests()], done.stderr
    finally:
        agent.stop()


def spans(tree: list) -> list[tuple[str, dict]]:
    found = []
    for operation, tags, children in tree:
        found.append((operation, tags))
        found += spans(children)
    return found


def check_insights(requests: list[dict]) -> dict[str, dict]:
    by_root = {request["tree"][0][0]: request for request in requests}
    # the URL no route matched (/does-not-exist) sent nothing
    assert sorted(by_root) == ["Controller/__main__.n_plus_one", "Controller/__main__.slow", "Job/insights.job"]
    for request in requests:
        assert isinstance(request["tags"]["mem_delta"], float) and request["tags"]["mem_delta"] >= 0

    app_file = str(APP)
    [slow_sql] = [tags for operation, tags in spans(by_root["Controller/__main__.slow"]["tree"])
                  if operation == "SQL/Query"]
    stack = slow_sql["stack"]
    assert 1 <= len(stack) <= 50 and all(set(frame) == {"file", "line", "function"} for frame in stack)
    assert {"file": app_file, "line": _line_of("the slow query's line"), "function": "slow"} in stack
    assert all("site-packages" not in frame["file"] and "/tl_otel/" not in frame["file"] for frame in stack)

    queries = [tags for operation, tags in spans(by_root["Controller/__main__.n_plus_one"]["tree"])
               if operation == "SQL/Query"]
    assert len(queries) == 6 and {tags["db.statement"] for tags in queries} == {"SELECT sleepy(?) + ?"}
    [n_plus_one] = [tags["stack"] for tags in queries if "stack" in tags]  # one stack for the statement
    assert {"file": app_file, "line": _line_of("the N+1 line"), "function": "n_plus_one"} in n_plus_one
    assert not [tags for _, tags in spans(by_root["Job/insights.job"]["tree"]) if "stack" in tags]
    return by_root


ALLOCATION_TAGS = {"allocations", "start_allocations", "stop_allocations"}


@pytest.mark.e2e
def test_configure_slow_query_and_n_plus_one_stacks_mem_delta_no_unrouted_request(tmp_path):
    requests, _ = run_app(tmp_path, launcher=False)
    by_root = check_insights(requests)
    for request in by_root.values():  # allocation tags are off by default
        assert not [tags for _, tags in spans(request["tree"]) if ALLOCATION_TAGS & set(tags)]


@pytest.mark.e2e
def test_launcher_with_allocation_tags_on_every_span(tmp_path):
    requests, _ = run_app(tmp_path, launcher=True, TL_OTEL_SCOUT_ALLOCATIONS="true")
    by_root = check_insights(requests)
    every_span = [tags for request in by_root.values() for _, tags in spans(request["tree"])]
    assert len(every_span) == 2 + 7 + 2
    for tags in every_span:
        assert all(type(tags[name]) is int for name in ALLOCATION_TAGS), tags
        assert tags["allocations"] == tags["stop_allocations"] - tags["start_allocations"] >= 0


@pytest.mark.e2e
def test_without_the_objtrace_extension_no_allocation_tags_and_one_warning(tmp_path):
    requests, stderr = run_app(tmp_path, False, "no-objtrace", TL_OTEL_SCOUT_ALLOCATIONS="true")
    by_root = check_insights(requests)
    assert not [tags for request in by_root.values() for _, tags in spans(request["tree"])
                if ALLOCATION_TAGS & set(tags)]
    assert stderr.count("_objtrace extension could not be imported") == 1


# -- unit level ---------------------------------------------------------------------------------------
def traced(sampled: bool = True, allocations: bool = False):
    memory = InMemorySpanExporter()
    provider = TracerProvider(shutdown_on_exit=False, **({} if sampled else {"sampler": ALWAYS_OFF}))
    processor = ScoutCaptureProcessor(allocations=allocations)
    provider.add_span_processor(processor)
    provider.add_span_processor(SimpleSpanProcessor(memory))
    return provider.get_tracer("test"), memory, processor


def server(tracer, status: int = 200, route: str | None = "/r"):
    attributes = {"http.method": "GET", "http.status_code": status, **({"http.route": route} if route else {})}
    return tracer.start_as_current_span("GET", kind=SpanKind.SERVER, attributes=attributes)


def timed_span(tracer, name: str, seconds: float, **attributes):
    now = time.time_ns()
    span = tracer.start_span(name, kind=SpanKind.CLIENT, attributes=attributes, start_time=now - int(seconds * 1e9))
    span.end(end_time=now)  # the end runs here: its stack is this test's


def by_name(memory) -> dict[str, dict]:
    return {span.name: dict(span.attributes) for span in memory.get_finished_spans()}


def test_a_request_gets_mem_delta_and_a_slow_span_its_stack():
    tracer, memory, processor = traced()
    with server(tracer):
        timed_span(tracer, "slow", 0.6)
        timed_span(tracer, "fast", 0.01)
    found = by_name(memory)
    assert isinstance(found["GET"][MEM_DELTA], float) and found["GET"][MEM_DELTA] >= 0
    assert STACK not in found["GET"] and STACK not in found["fast"]
    frames = stack_frames(found["slow"][STACK])
    assert frames[0]["file"] == __file__ and frames[0]["function"] == "timed_span"  # innermost first
    assert frames[1]["function"] == "test_a_request_gets_mem_delta_and_a_slow_span_its_stack"
    assert processor._requests == {}


def test_nothing_is_taken_outside_a_request_scout_receives():
    tracer, memory, processor = traced()
    with tracer.start_as_current_span("script"):  # an INTERNAL root: no Scout request
        timed_span(tracer, "slow outside", 0.6)
    with server(tracer, status=404, route=None):  # the router's 404: not sent, so no reading at its end
        timed_span(tracer, "slow in 404", 0.01)
    found = by_name(memory)
    assert STACK not in found["slow outside"] and MEM_DELTA not in found["script"]
    assert MEM_DELTA not in found["GET"]
    tracer, memory, processor = traced(sampled=False)  # the Scout destination receives sampled traces only
    with server(tracer):
        timed_span(tracer, "slow unsampled", 0.6)
    assert not memory.get_finished_spans() and processor._requests == {}


def test_n_plus_one_groups_by_the_sanitized_statement_and_takes_one_stack():
    tracer, memory, _ = traced()
    with server(tracer):
        for item in range(7):
            statement = f"SELECT * FROM t WHERE id = {item}"
            timed_span(tracer, f"q{item}", 0.04, **{"db.system": "sqlite", "db.statement": statement})
        for item in range(5):  # five calls, but 50 ms together: not an N+1 candidate
            timed_span(tracer, f"r{item}", 0.01, **{"db.system": "sqlite", "db.statement": "SELECT 1 FROM r"})
    found = by_name(memory)
    # 5 calls reach 150 ms at the 5th (4 x 40 ms is 160 ms, but only 4 calls before it)
    assert [name for name, attributes in found.items() if STACK in attributes] == ["q4"]


def test_rss_reading_is_psutil_s():
    reader = RssReader()
    assert abs(reader.mb() - psutil.Process().memory_info().rss / 2**20) < 4  # MB; the heap moves a little


def test_a_forked_child_reads_its_own_memory():
    reader = RssReader()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: the descriptor it inherited names the parent's statm until it is reopened
        os.write(write, os.readlink(f"/proc/self/fd/{reader._fd}").encode())
        os._exit(0)
    os.waitpid(pid, 0)
    assert os.read(read, 200).decode() == f"/proc/{pid}/statm"


def test_json_lines_keep_the_stack_and_leave_scout_s_readings_out(recorder):
    from tl_otel.exporters.jsonl.base import JsonLinesOptions
    from tl_otel.exporters.jsonl.spans import JsonSpanExporter

    class Collected(JsonLinesOptions):
        lines: list[bytes] = []

        def write(self, lines: list[tuple[int, bytes]]) -> None:
            self.lines.extend(line for _, line in lines)

    tracer, memory = recorder
    readings = {MEM_DELTA: 0.5, ALLOCATIONS_START: 10, ALLOCATIONS_STOP: 20}
    with tracer.start_as_current_span("GET /x", kind=SpanKind.SERVER,
                                      attributes={**readings, STACK: '  File "/app/x.py", line 3, in f'}):
        pass
    options = Collected()
    JsonSpanExporter(options).export(memory.get_finished_spans())
    [fields] = [json.loads(line) for line in options.lines]
    assert fields[STACK] == '  File "/app/x.py", line 3, in f' and not set(readings) & set(fields)


def test_the_processor_is_added_only_with_the_scout_destination(python, tmp_path):
    code = """
        import tl_otel
        runtime = tl_otel.configure(service_name="svc", instrument=False)
        print(sorted(type(p).__name__ for p in runtime.tracer_provider._active_span_processor._span_processors))
    """
    scout_env = {"SCOUT_KEY": "abcdefghij0123456789", "SCOUT_CORE_AGENT_SOCKET_PATH": str(tmp_path / "no.sock"),
                 "SCOUT_CORE_AGENT_LAUNCH": "false"}
    with_scout, without = python(code, **scout_env), python(code)
    assert "ScoutCaptureProcessor" in with_scout.stdout, with_scout.stderr
    assert "ScoutCaptureProcessor" not in without.stdout and "FanoutSpanProcessor" in without.stdout


def test_measured_tags_as_scout_apm_sends_them():
    stack = '  File "/app/main.py", line 10, in handler\n  File "/app/db.py", line 42, in fetch'
    tags = measured_tags({ALLOCATIONS_START: 100, ALLOCATIONS_STOP: 160, STACK: stack})
    assert tags == {"allocations": 60, "start_allocations": 100, "stop_allocations": 160,
                    "stack": [{"file": "/app/db.py", "line": 42, "function": "fetch"},
                              {"file": "/app/main.py", "line": 10, "function": "handler"}]}
    # a counter that went backwards (the span moved between threads) gives no allocation tags, as scout_apm
    assert measured_tags({ALLOCATIONS_START: 160, ALLOCATIONS_STOP: 100}) == {}


def test_roots_that_never_end_do_not_fill_the_table(monkeypatch):
    from tl_otel.exporters.scout import capture

    monkeypatch.setattr(capture, "MAX_OPEN_REQUESTS", 3)
    tracer, memory, processor = traced()
    for _ in range(7):
        tracer.start_span("GET", kind=SpanKind.SERVER)  # never ended
    assert 1 <= len(processor._requests) <= 3
    with server(tracer):
        pass
    assert MEM_DELTA in by_name(memory)["GET"]
