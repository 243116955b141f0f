"""Every destination, every field: a span, log records and metrics carry a canary (the configured SCOUT_KEY,
``password=…``/``token=…`` values, a base64 copy of the key) next to a harmless marker in each field that
carries text. For each destination the canaries are absent from what it received and the marker of each
field it carries is present (a destination that never received the item would prove nothing).

Destinations: JSON lines (stdout), PostHog events (/batch/) and logs (OTLP /i/v1/logs), Scout frames (a
local core agent), and OTLP traces/logs/metrics (what any OTLP collector or the console exporter gets).
A property-based test then puts a configured secret and secret shapes in random fields and random
surrounding syntax and renders the redacted items through the destinations' own encoders."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from examples.peers.fake_core_agent import FakeCoreAgent
from examples.peers.posthog_capture import PostHogCapture
from tests.conftest import run_python
from tl_otel.redaction.redactor import Redactor

# Lowercase: the SDK lowercases instrument names, so the metric name keeps it as it was planted.
SECRET = "cnryscoutkey8812xyz"
POSTHOG_KEY = "phc_cnryPosthogKey86abcdefghijkl"
CANARIES = [SECRET, base64.b64encode(SECRET.encode()).decode(), "cnrypw", "cnrytok", "cnrydeep"]

APP = """
    import base64, logging, sys
    import tl_otel
    from opentelemetry import _logs, metrics, trace
    from opentelemetry._logs import LogRecord
    from opentelemetry.trace import (Link, NonRecordingSpan, SpanContext, SpanKind, Status, StatusCode, TraceFlags,
                                     TraceState, set_span_in_context)

    S = "{secret}"
    B64 = base64.b64encode(S.encode()).decode()
    runtime = tl_otel.configure(service_name="svc", instrument=False)

    def text(marker):
        return f"{{marker}} {{S}} password=cnrypw{{marker}} b64 {{B64}}"

    tracer = trace.get_tracer(f"mkscope {{S}}", f"mkversion-{{S}}")
    remote = SpanContext(0x5EC, 0x5ED, True, TraceFlags(1), TraceState([("vendor", f"mktracestate-{{S}}")]))
    with tracer.start_as_current_span(f"GET /mkspanname?token=cnrytok1 {{S}}", kind=SpanKind.SERVER, attributes={{
            "http.method": "GET", "http.target": "/mkpath?q=mkquery&token=cnrytok2", "http.status_code": 200,
            "note": text("mkattr"), f"mkattrkey.{{S}}": "v"}},
            links=[Link(remote, {{"note": text("mklinkattr")}})]) as server:
        server.add_event(f"mkeventname {{S}}", {{"note": text("mkeventattr")}})
        with tracer.start_as_current_span(f"mkchildname {{S}}"):
            pass
        with tracer.start_as_current_span("SELECT", kind=SpanKind.CLIENT, attributes={{
                "db.system": "postgresql", "db.statement": "SELECT mksql FROM t WHERE pw = 'cnrypwsql'"}}):
            pass
        with tracer.start_as_current_span("engine.run", attributes={{"engine.id": "e1", "note": text("mkengine")}}):
            pass
        server.record_exception(ValueError(text("mkexc")))
        server.set_status(Status(StatusCode.ERROR, text("mkstatus")))
    with tracer.start_as_current_span("remote child", context=set_span_in_context(NonRecordingSpan(remote))):
        pass

    log = logging.getLogger(f"mklogger.{{S}}")
    log.warning(text("mklogbody"), extra={{"note": text("mklogattr"), f"mklogkey_{{S}}": "v"}})
    try:
        raise RuntimeError(text("mklogexc"))
    except RuntimeError:
        log.exception("failed")
    deep = {{"password": "cnrydeep", "note": "cnrydeep " + S}}
    for _ in range(12):
        deep = {{"level": deep}}
    _logs.get_logger(f"mkapilogger {{S}}").emit(LogRecord(
        body={{"note": text("mkapibody"), "nested": deep}}, severity_text=text("mksev"),
        event_name=text("mkevname"), attributes={{"note": text("mkapiattr")}}))

    meter = metrics.get_meter(f"mkmeter {{S}}")
    counter = meter.create_counter(f"mkinstrument.{{S}}", description=text("mkdesc"))
    counter.add(1, {{"note": text("mkmetricattr"), "password": "cnrypwmetric1"}})
    counter.add(2, {{"note": text("mkmetricattr"), "password": "cnrypwmetric2"}})
    sys.exit(0 if runtime.shutdown(20) else 3)
"""

# The fields each destination carries, by the marker planted in them.
EXPECTED = {
    "json lines": ["mkspanname", "mkattr", "mkattrkey", "mklogkey", "mkexc", "mkstatus", "mkscope", "mklogbody",
                   "mklogattr", "mklogger", "mkmeter", "mkinstrument", "mkmetricattr", "mkapibody", "mkapiattr",
                   "mkapilogger"],
    "posthog events": ["mkpath", "mkspanname", "mkexc", "mkengine", "mklogger", "mklogexc"],
    "posthog logs": ["mklogbody", "mklogattr", "mklogkey", "mklogger", "mkapibody", "mkapiattr", "mksev",
                     "mkapilogger"],
    "scout": ["mkspanname", "mkchildname", "mkpath", "mksql"],
    "otlp traces": ["mkspanname", "mkattr", "mkattrkey", "mkeventname", "mkeventattr", "mklinkattr", "mkstatus",
                    "mkscope", "mkversion", "mkresource", "mktracestate", "mkexc", "mkchildname"],
    "otlp logs": ["mklogbody", "mklogattr", "mklogkey", "mklogger", "mkapibody", "mkapiattr", "mksev", "mkevname",
                  "mkapilogger", "mkresource"],
    "otlp metrics": ["mkmeter", "mkinstrument", "mkdesc", "mkmetricattr", "mkresource"],
}


def _received(tmp_path, app: str | None = None, **extra: str) -> tuple[dict[str, bytes], Any]:
    posthog, collector = PostHogCapture(), PostHogCapture()
    agent = FakeCoreAgent(str(tmp_path / "core-agent.sock"))
    try:
        ran = run_python(
            APP.format(secret=SECRET) if app is None else app, timeout=90,
            POSTHOG_API_KEY=POSTHOG_KEY, POSTHOG_HOST=posthog.url, TL_OTEL_POSTHOG_FLUSH_INTERVAL="0.2",
            SCOUT_KEY=SECRET, SCOUT_MONITOR="true", SCOUT_CORE_AGENT_SOCKET_PATH=agent.address,
            SCOUT_CORE_AGENT_LAUNCH="false", SCOUT_NAME="svc",
            OTEL_TRACES_EXPORTER="json,posthog,scout,otlp_proto_http",
            OTEL_LOGS_EXPORTER="json,posthog,otlp_proto_http", OTEL_METRICS_EXPORTER="json,otlp_proto_http",
            OTEL_EXPORTER_OTLP_ENDPOINT=collector.url, OTEL_RESOURCE_ATTRIBUTES=f"deploy.note=mkresource-{SECRET}",
            **extra,
        )
        assert ran.returncode == 0, ran.stderr[-3000:]
        assert agent.wait_for(lambda: any("BatchCommand" in m for m in agent.messages), 20), ran.stderr[-2000:]
    finally:
        posthog.stop()
        collector.stop()
        agent.stop()
    events = []
    for request in posthog.received:
        if request.path.startswith("/batch"):
            body = dict(request.body or {})
            body.pop("api_key", None)  # the key's own destination, not a leak
            events.append(json.dumps(body))
    scout = []
    for message in agent.messages:
        message = json.loads(json.dumps(message))
        message.get("Register", {}).pop("key", None)  # the key's own destination, not a leak
        scout.append(json.dumps(message))
    by_path = {path: b"".join(r.raw for r in collector.received if r.path == path)
               for path in ("/v1/traces", "/v1/logs", "/v1/metrics")}
    received = {
        "json lines": ran.stdout.encode(),
        "posthog events": "\n".join(events).encode(),
        "posthog logs": b"".join(r.raw for r in posthog.received if r.path.startswith("/i/v1/logs")),
        "scout": "\n".join(scout).encode(),
        "otlp traces": by_path["/v1/traces"],
        "otlp logs": by_path["/v1/logs"],
        "otlp metrics": by_path["/v1/metrics"],
        "tl-otel stderr": ran.stderr.encode(),
    }
    return received, ran


@pytest.mark.e2e
def test_with_redaction_off_the_canaries_reach_every_destination(tmp_path):
    # Proves the planted items are live: without the redaction step each destination receives canaries.
    received, _ = _received(tmp_path, TL_OTEL_REDACT="false")
    reached = {where: sorted(c for c in CANARIES if c.encode() in data) for where, data in received.items()}
    assert all(reached[where] for where in EXPECTED), reached


@pytest.mark.e2e
def test_no_canary_in_any_field_reaches_any_destination_and_every_field_arrives(tmp_path):
    received, ran = _received(tmp_path)
    leaks = [(where, canary) for where, data in received.items() for canary in CANARIES if canary.encode() in data]
    assert leaks == []
    missing = {where: [m for m in markers if m.encode() not in received[where]] for where, markers in EXPECTED.items()}
    assert missing == {where: [] for where in EXPECTED}

    # Names derived from the span name drop its query string; the metric points merged into one.
    lines = ran.json_lines()
    [server] = [r for r in lines if r.get("type") == "span" and r.get("span.kind") == "server"]
    assert server["message"] == "GET /mkspanname REDACTED"
    [point] = [r for r in lines if r.get("type") == "metric" and r["message"].startswith("mkinstrument")]
    assert point["value"] == 3 and point["password"] == "REDACTED" and "tl.redacted" not in point
    assert b"Controller/GET /mkspanname REDACTED" in received["scout"]


# -- property-based: random fields, random syntax, every encoder -------------------------------------------
CONFIGURED = "Zq8cnrySecretKey"
KEYS = ["password", "token", "api_key", "client_secret", "Authorization", "db_password", "x-api-key", "secret"]
alnum = st.text(alphabet="abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789", min_size=8, max_size=14)
# Around a secret: anything that keeps its word boundaries (no letters, digits or '_' right next to it).
syntax = st.text(alphabet=" \t\n\"'=:&?/,;#@()[]{}<>|!*+-.", max_size=4)
words = st.text(alphabet="abcdefgh xyz.-/", max_size=12)


@st.composite
def secret_texts(draw) -> tuple[str, str]:
    """(text, the secret in it that must not survive)."""
    token = "Cnry" + draw(alnum)
    kind = draw(st.sampled_from(["configured", "pair", "quoted", "query", "userinfo", "bearer", "shape"]))
    if kind == "configured":
        secret = CONFIGURED
        core = secret
    elif kind == "pair":
        secret, core = token, f"{draw(st.sampled_from(KEYS))}{draw(st.sampled_from(['=', ': ', ' = ', ':']))}{token}"
    elif kind == "quoted":
        quote = draw(st.sampled_from(['"', "'"]))
        secret = token
        core = f'{quote}{draw(st.sampled_from(KEYS))}{quote}: {quote}{token} {draw(words)}{quote}'
    elif kind == "query":
        secret, core = token, f"/p?q=1&{draw(st.sampled_from(KEYS))}={token}&z=2"
    elif kind == "userinfo":
        secret, core = token, f"https://user:{token}@host.test/x"
    elif kind == "bearer":
        secret, core = token, f"Bearer {token}"
    else:
        secret = draw(st.sampled_from([f"ghp_{token}{'a' * 30}", f"phc_{token}{'b' * 10}", f"xoxb-{token}aaaa"]))
        core = secret
    return f"{draw(words)} {draw(syntax)}{core}{draw(syntax)} {draw(words)}", secret


SPAN_FIELDS = ["name", "attribute", "event name", "event attribute", "link attribute", "status", "scope"]
LOG_FIELDS = ["body", "nested body", "attribute", "severity", "event name", "logger"]
METRIC_FIELDS = ["attribute", "description", "meter"]


def _render_span(fields: dict[str, str]) -> list[bytes]:
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from opentelemetry.trace import INVALID_SPAN_CONTEXT, Link, SpanKind, Status, StatusCode

    from tl_otel.exporters.jsonl.spans import JsonSpanExporter
    from tl_otel.exporters.posthog.mapping import MappingOptions, SpanMapper
    from tl_otel.exporters.scout.assembly import RequestAssembler
    from tl_otel.exporters.scout.commands import build

    memory = InMemorySpanExporter()
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer(fields.get("scope", "scope"))
    with tracer.start_as_current_span(fields.get("name", "GET /x"), kind=SpanKind.SERVER, attributes={
            "http.method": "GET", "http.target": "/x", "engine.id": "e", "note": fields.get("attribute", "a")},
            links=[Link(INVALID_SPAN_CONTEXT, {"note": fields.get("link attribute", "l")})]) as span:
        span.add_event(fields.get("event name", "e"), {"note": fields.get("event attribute", "e")})
        span.record_exception(ValueError(fields.get("event attribute", "boom")))
        span.set_status(Status(StatusCode.ERROR, fields.get("status", "failed")))
    spans = list(memory.get_finished_spans())
    for finished in spans:
        REDACTOR.redact_span(finished)
    JsonSpanExporter(JSON_LINES.options).export(spans)
    mapper = SpanMapper(MappingOptions("svc", (), (), 1.0, (), "0"))
    scout = [build(request) for request in RequestAssembler().add(spans)]
    return [JSON_LINES.take(), json.dumps(mapper.events(spans)).encode(), json.dumps(scout).encode(),
            encode_spans(spans).SerializeToString()]


def _render_log(fields: dict[str, str]) -> list[bytes]:
    from opentelemetry._logs import LogRecord
    from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs
    from opentelemetry.sdk._logs import LoggerProvider

    from tl_otel.exporters.jsonl.logs import JsonLogExporter

    captured: list[Any] = []

    class Keep:
        def on_emit(self, record: Any) -> None:
            captured.append(record)

        def shutdown(self) -> None: ...

        def force_flush(self, timeout_millis: int = 0) -> bool:
            return True

    provider = LoggerProvider(shutdown_on_exit=False)
    provider.add_log_record_processor(Keep())
    nested: Any = {"v": fields.get("nested body", "n")}
    for _ in range(3):
        nested = [nested]
    provider.get_logger(fields.get("logger", "app")).emit(LogRecord(
        body={"text": fields.get("body", "b"), "nested": nested}, severity_text=fields.get("severity", "INFO"),
        event_name=fields.get("event name", "ev"), attributes={"note": fields.get("attribute", "a")}))
    [record] = captured
    REDACTOR.redact_log(record)
    JsonLogExporter(JSON_LINES.options).export([record])
    return [JSON_LINES.take(), encode_logs([record]).SerializeToString()]


def _render_metric(fields: dict[str, str]) -> list[bytes]:
    from opentelemetry.exporter.otlp.proto.common._internal.metrics_encoder import encode_metrics
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    from tl_otel.exporters.jsonl.metrics import JsonMetricExporter
    from tl_otel.redaction import metrics as metrics_redaction

    reader = InMemoryMetricReader()
    metrics_redaction.install(reader, REDACTOR)
    provider = MeterProvider(metric_readers=[reader], shutdown_on_exit=False)
    counter = provider.get_meter(fields.get("meter", "m")).create_counter(
        "calls", description=fields.get("description", "d"))
    counter.add(1, {"note": fields.get("attribute", "a")})
    data = reader.get_metrics_data()
    provider.shutdown()
    JsonMetricExporter(JSON_LINES.options).export(data)
    return [JSON_LINES.take(), encode_metrics(data).SerializeToString()]


class _JsonLines:
    """The JSON exporters' lines, written by their own writer into a temporary file."""

    def __init__(self) -> None:
        import tempfile

        from tl_otel.exporters.jsonl.base import JsonLinesOptions
        from tl_otel.exporters.jsonl.stream import LineWriter

        self._file = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the test module
        fd = self._file.fileno()
        self.options = JsonLinesOptions(writer=LineWriter(fd, fd))

    def take(self) -> bytes:
        import os

        fd = self._file.fileno()
        size = os.lseek(fd, 0, os.SEEK_END)
        data = os.pread(fd, size, 0)
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        return data


JSON_LINES = _JsonLines()
REDACTOR = Redactor(secrets=[CONFIGURED])


@settings(max_examples=60, deadline=2000, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(["span", "log", "metric"]).flatmap(lambda item: st.tuples(
    st.just(item), st.dictionaries(st.sampled_from({"span": SPAN_FIELDS, "log": LOG_FIELDS,
                                                    "metric": METRIC_FIELDS}[item]),
                                   secret_texts(), min_size=1, max_size=3))))
def test_no_secret_in_a_random_field_survives_any_encoder(case):
    item, planted = case
    fields = {field: text for field, (text, _) in planted.items()}
    render = {"span": _render_span, "log": _render_log, "metric": _render_metric}[item]
    outputs = render(fields)
    assert outputs and all(outputs)
    for field, (text, secret) in planted.items():
        for output in outputs:
            assert secret.encode() not in output, (item, field, text, output[:2000])
