"""JSON lines: bad values never break a line, lines stay whole under concurrency, nothing is lost at
exit, levels route to stdout/stderr as configured."""

from __future__ import annotations

import json

from tl_otel.exporters.jsonl.encoder import encode_line
from tl_otel.semantics.safe_values import to_jsonable


class BrokenStr:
    def __str__(self):
        raise RuntimeError("no str")

    def __repr__(self):
        raise RuntimeError("no repr")


def nested(depth):
    value = leaf = {}
    for _ in range(depth):
        leaf["next"] = {}
        leaf = leaf["next"]
    return value


def test_bad_values_become_one_valid_utf8_line():
    circular = {"a": 1}
    circular["self"] = circular
    cyclic_list = [1]
    cyclic_list.append(cyclic_list)
    fields = {
        "bytes": b"\xff\xfeok",
        "circular": circular,
        "cyclic_list": cyclic_list,
        "broken": BrokenStr(),
        "nan": float("nan"),
        "inf": float("-inf"),
        "surrogate": "a\ud800b",
        "newline": "line1\nline2",
        "long": "x" * 100_000,
        "deep": nested(100_000 // 1000),
        "wide": {str(i): i for i in range(10_000)},
        "exception": ValueError("bad"),
    }
    line = encode_line(to_jsonable(fields, max_length=1000))
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    record = json.loads(line.decode("utf-8"))
    assert record["bytes"] == "\\xff\\xfeok"
    assert record["circular"] == {"a": 1, "self": "<cyclic>"}
    assert record["cyclic_list"] == [1, "<cyclic>"]
    assert record["broken"] == "<unprintable BrokenStr>"
    assert record["nan"] == "NaN" and record["inf"] == "-Infinity"
    assert record["surrogate"] == "a\ufffdb"
    assert record["newline"] == "line1\nline2"
    assert record["long"].startswith("x" * 1000) and record["long"].endswith("[truncated 99000 chars]")
    assert "nested deeper than" in json.dumps(record["deep"])
    assert len(record["wide"]) == 257 and record["wide"]["…"] == "9744 more keys"
    assert record["exception"] == "ValueError: bad"


def test_very_deep_nesting_does_not_recurse_out():
    value = []
    for _ in range(100_000):
        value = [value]
    line = encode_line({"v": to_jsonable(value)})
    assert json.loads(line)["v"]


LOGGING_APP = """
import logging, threading
import tl_otel
tl_otel.configure(service_name="svc")
log = logging.getLogger("worker")

def work(thread):
    for index in range(500):
        log.info("message %d from %d", index, thread, extra={"thread_no": thread, "payload": "p" * 300})

threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
"""


def test_eight_threads_logging_at_once_give_whole_lines_and_nothing_is_lost_at_exit(python):
    # A queue that holds every record: on a loaded machine the dispatcher may not run at all while the
    # threads log, and the default 2,048 would drop by design (that is counted, not lost at exit). What
    # this test checks is that whatever was queued is written out, whole, when the process exits.
    ran = python(LOGGING_APP, TL_OTEL_LOG_QUEUE_SIZE=str(8 * 500))
    assert ran.returncode == 0, ran.stderr
    lines = ran.stdout.splitlines()
    assert len(lines) == 8 * 500
    records = [json.loads(line) for line in lines]  # every line parses on its own
    assert {(r["thread_no"], r["message"]) for r in records} == {
        (t, f"message {i} from {t}") for t in range(8) for i in range(500)
    }


def test_log_record_fields_extra_trace_context_and_exception(python):
    ran = python("""
        import logging, tl_otel
        from opentelemetry import trace
        tl_otel.configure(service_name="tl-engine")
        logger = logging.getLogger("tl-engine")
        with trace.get_tracer("t").start_as_current_span("work") as span:
            ctx = span.get_span_context()
            print("IDS", format(ctx.trace_id, "032x"), format(ctx.span_id, "016x"))
            logger.info("Engine executed", extra={"engine_id": "engine-123", "duration_ms": 150, "status": "success"})
            try:
                raise KeyError("missing")
            except KeyError:
                logger.exception("Engine failed")
        logger.debug("not captured at the default level")
    """)
    assert ran.returncode == 0, ran.stderr
    trace_id, span_id = next(x for x in ran.stdout.splitlines() if x.startswith("IDS")).split()[1:]
    executed, failed = ran.json_lines()
    assert executed["message"] == "Engine executed" and executed["level"] == "INFO"
    assert (executed["engine_id"], executed["duration_ms"], executed["status"]) == ("engine-123", 150, "success")
    keys = list(executed)
    assert keys.index("engine_id") < keys.index("duration_ms") < keys.index("status")  # the order given
    assert executed["logger"] == "tl-engine" and executed["service.name"] == "tl-engine"
    assert executed["trace_id"] == trace_id and executed["span_id"] == span_id
    assert executed["timestamp"].endswith("Z") and "T" in executed["timestamp"]
    assert failed["level"] == "ERROR" and failed["exception.type"] == "KeyError"
    assert failed["exception.message"] == "'missing'" and "Traceback" in failed["exception.stacktrace"]


def test_bad_values_in_logging_never_raise_into_the_application(python):
    ran = python("""
        import logging, tl_otel
        tl_otel.configure()
        class Broken:
            def __str__(self): raise RuntimeError("broken str")
        circular = {}
        circular["me"] = circular
        log = logging.getLogger("app")
        log.info("arg %s", Broken())
        log.info("extra", extra={"circular": circular, "raw": b"\\xff", "nan": float("nan"), "obj": Broken()})
        log.info(Broken())
        print("survived")
    """)
    assert ran.returncode == 0, ran.stderr
    assert "survived" in ran.stdout and "Traceback" not in ran.stderr
    first, second, third = ran.json_lines()
    assert "could not be formatted" in first["message"]
    assert second["circular"] == {"me": "<cyclic>"} and second["raw"] == "\\xff" and second["nan"] == "NaN"
    assert third["message"].startswith("<__main__.Broken object at")  # repr when str raises


def test_warning_and_above_can_go_to_stderr(python):
    ran = python("""
        import logging, tl_otel
        tl_otel.configure()
        logging.getLogger("app").info("to stdout")
        logging.getLogger("app").warning("to stderr")
    """, TL_OTEL_JSON_STDERR_LEVEL="warning")
    assert [r["message"] for r in ran.json_lines()] == ["to stdout"]
    assert '"message":"to stderr"' in ran.stderr and '"to stderr"' not in ran.stdout


def test_span_lines_only_for_spans_worth_a_line(python):
    ran = python("""
        import tl_otel
        from opentelemetry import trace
        from opentelemetry.trace import SpanKind, Status, StatusCode
        tl_otel.configure()
        tracer = trace.get_tracer("t")
        with tracer.start_as_current_span("GET /items/{id}", kind=SpanKind.SERVER,
                                          attributes={"http.route": "/items/{id}", "message": "clash"}):
            with tracer.start_as_current_span("internal detail"):
                pass
            with tracer.start_as_current_span("GET", kind=SpanKind.CLIENT, attributes={"url.full": "http://x"}):
                pass
            with tracer.start_as_current_span("SELECT fast", kind=SpanKind.CLIENT, attributes={"db.system": "sqlite"}):
                pass
            with tracer.start_as_current_span("failing step") as span:
                span.set_status(Status(StatusCode.ERROR, "it broke"))
    """)
    records = {r["message"]: r for r in ran.json_lines()}
    assert set(records) == {"GET /items/{id}", "GET", "failing step"}
    server = records["GET /items/{id}"]
    assert server["span.kind"] == "server" and server["status"] == "unset" and server["duration_ms"] >= 0
    assert server["http.route"] == "/items/{id}" and server["attr.message"] == "clash"
    assert records["failing step"]["level"] == "ERROR" and records["failing step"]["status_message"] == "it broke"
    assert records["GET"]["parent_span_id"] == server["span_id"]


def test_every_span_gets_a_line_when_asked_for(python):
    ran = python("""
        import tl_otel
        from opentelemetry import trace
        from opentelemetry.trace import SpanKind
        tl_otel.configure()
        tracer = trace.get_tracer("t")
        with tracer.start_as_current_span("GET /items/{id}", kind=SpanKind.SERVER):
            with tracer.start_as_current_span("internal detail"):
                pass
            with tracer.start_as_current_span("SELECT fast", kind=SpanKind.CLIENT, attributes={"db.system": "sqlite"}):
                pass
    """, TL_OTEL_JSON_ALL_SPANS="true")
    records = {r["message"]: r for r in ran.json_lines() if r["type"] == "span"}
    assert set(records) == {"GET /items/{id}", "internal detail", "SELECT fast"}
    assert records["internal detail"]["parent_span_id"] == records["GET /items/{id}"]["span_id"]
    assert records["SELECT fast"]["db.system"] == "sqlite"


def test_metric_points_are_written_at_shutdown(python):
    ran = python("""
        import tl_otel
        from opentelemetry import metrics
        tl_otel.configure(service_name="svc")
        counter = metrics.get_meter("m").create_counter("engine.runs", unit="{run}")
        counter.add(3, {"engine.id": "engine-123"})
    """)
    [point] = [r for r in ran.json_lines() if r["type"] == "metric"]
    assert (point["message"], point["value"], point["engine.id"], point["metric.type"]) == (
        "engine.runs", 3, "engine-123", "sum")


def test_an_item_that_cannot_be_encoded_costs_only_itself(tmp_path):
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from opentelemetry.trace import SpanKind

    from tl_otel.exporters.jsonl.base import JsonLinesOptions
    from tl_otel.exporters.jsonl.spans import JsonSpanExporter
    from tl_otel.exporters.jsonl.stream import LineWriter

    memory = InMemorySpanExporter()
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(SimpleSpanProcessor(memory))
    for name in ("first", "second"):
        with provider.get_tracer("t").start_as_current_span(name, kind=SpanKind.SERVER):
            pass
    first, second = memory.get_finished_spans()
    with open(tmp_path / "out", "wb") as sink:
        exporter = JsonSpanExporter(JsonLinesOptions(writer=LineWriter(sink.fileno(), sink.fileno())))
        exporter.export([first, object(), second])  # the middle item is not a span at all
    assert [json.loads(line)["message"] for line in (tmp_path / "out").read_text().splitlines()] == [
        "first", "second"]
