"""The redaction step on its own: what is replaced, what is kept, the markers, the settings that extend it,
and (property-based) that it and the JSON line writer never raise and always give one valid line."""

from __future__ import annotations

import json
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, Status, StatusCode

from tl_otel.exporters.jsonl.encoder import encode_line
from tl_otel.redaction.redactor import MARKER, Redactor, with_changes
from tl_otel.semantics.safe_values import to_jsonable

redactor = Redactor(secrets=["phc_configuredkey1234567890", "https://hooks.example.test/services/T01/B02/whsecretpath99"])


@pytest.mark.parametrize(("text", "expected"), [
    # URL userinfo, as the semantic conventions write it
    ("https://bob:hunter2@db.example.com/x", "https://REDACTED:REDACTED@db.example.com/x"),
    ("redis://:s3cret@localhost:6379/0", "redis://REDACTED:REDACTED@localhost:6379/0"),
    # query values of sensitive keys, keys kept, in full URLs and bare query strings (old and stable semconv)
    ("/search?q=shoes&password=p1&Api_Key=k1&sig=s1&X-Amz-Signature=a1&color=blue",
     "/search?q=shoes&password=REDACTED&Api_Key=REDACTED&sig=REDACTED&X-Amz-Signature=REDACTED&color=blue"),
    ("access_token=t1&client_secret=c1&page=2", "access_token=REDACTED&client_secret=REDACTED&page=2"),
    # key/value text in messages and JSON-ish bodies
    ('payload {"password": "hunter2", "user": "bob"}', 'payload {"password": "REDACTED", "user": "bob"}'),
    ("login failed: db_password=hunter2 user=bob", "login failed: db_password=REDACTED user=bob"),
    ("Authorization: Bearer abc.def.ghi", "Authorization: Bearer REDACTED"),
    # secret shapes wherever they appear
    ("key phx_abcdefghijklmnopqrstuv in text", "key REDACTED in text"),
    ("posting to https://hooks.slack.com/services/T000/B000/XXXXXXXX failed",
     "posting to https://hooks.slack.com/services/REDACTED failed"),
    ("token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJl", "token REDACTED"),
    ("sent with bearer abcdefghijklmnop", "sent with Bearer REDACTED"),
    # configured secrets, and the path of a configured webhook URL on its own (an HTTP client's error)
    ("deploy key phc_configuredkey1234567890", "deploy key REDACTED"),
    ("Max retries exceeded with url: /services/T01/B02/whsecretpath99", "Max retries exceeded with url: REDACTED"),
])
def test_text_is_scrubbed(text, expected):
    assert redactor.scrub_text(text) == expected


@pytest.mark.parametrize("text", [
    "GET /engines/{engine_id}/quote", "KeyError: 'password'", "exit code: 1", "tokens_used=12 is fine",
    "http://127.0.0.1:8000/engines/12/run?mode=fast", "the monkey=3 key value", "password=REDACTED",
    "Please select a plan where the price is 20 EUR, order 12345",
])
def test_ordinary_text_is_kept_as_the_same_object(text):
    assert redactor.scrub_text(text) is text


def test_sql_literals_become_placeholders_and_parameterized_text_stays():
    sql = "SELECT * FROM users WHERE name = 'bob''s' AND id = 42 AND x = $1 AND y = %(y)s AND t1.c = ? LIMIT 10"
    assert redactor.scrub_sql(sql) == (
        "SELECT * FROM users WHERE name = ? AND id = ? AND x = $1 AND y = %(y)s AND t1.c = ? LIMIT ?")
    changes, keys = redactor.redact_attributes({"db.statement": "UPDATE t SET pw = 'x1' WHERE id = 7",
                                                "db.query.text": "SELECT a FROM b WHERE c = :c"})
    assert changes == {"db.statement": "UPDATE t SET pw = ? WHERE id = ?"} and keys == ["db.statement"]


def test_sensitive_attribute_names_and_headers_keep_their_shape():
    changes, keys = redactor.redact_attributes({
        "http.request.header.authorization": ("Basic dXNlcjpwYXNz",), "http.request.header.cookie": ["a=b"],
        "http.response.header.set_cookie": ["sid=1"], "http.request.header.x_api_key": ["k"],
        "app.user.password": "p", "stripe_secret_key": "sk", "tokens_used": 5, "engine.id": "engine-123",
        "session.id": "s-1",
    })
    assert changes == {
        "http.request.header.authorization": (MARKER,), "http.request.header.cookie": (MARKER,),
        "http.response.header.set_cookie": (MARKER,), "http.request.header.x_api_key": (MARKER,),
        "app.user.password": MARKER, "stripe_secret_key": MARKER}
    assert keys == sorted(changes)


def test_nested_log_fields_are_redacted_by_key():
    value = {"input": {"password": "p", "items": [{"api_key": "k", "qty": 2}]}, "note": "ok"}
    assert redactor.scrub_value(value) == {"input": {"password": MARKER, "items": [{"api_key": MARKER, "qty": 2}]},
                                           "note": "ok"}


def _span(**attributes):
    memory = InMemorySpanExporter()
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(SimpleSpanProcessor(memory))
    with provider.get_tracer("t").start_as_current_span("GET /x", kind=SpanKind.SERVER) as span:
        span.set_attributes(attributes)
        span.add_event("exception", {"exception.message": "connect to postgres://app:pw1@db/x failed"})
        span.set_status(Status(StatusCode.ERROR, "upstream said token=abc123"))
    return memory.get_finished_spans()[0]


def test_a_finished_span_is_redacted_in_place_and_says_which_keys():
    span = _span(**{"url.full": "https://x.test/a?token=t1", "url.query": "token=t1", "http.route": "/a"})
    redactor.redact_span(span)
    assert span.attributes["url.full"] == "https://x.test/a?token=REDACTED"
    assert span.attributes["url.query"] == "token=REDACTED"
    assert span.attributes["http.route"] == "/a"
    assert span.events[0].attributes["exception.message"] == "connect to postgres://REDACTED:REDACTED@db/x failed"
    assert span.status.description == "upstream said token=REDACTED"
    assert span.attributes["tl.redacted"] == ("exception.message", "status.description", "url.full", "url.query")
    assert span.dropped_attributes == 0  # the SDK's bounded attributes keep working


def test_users_extend_or_replace_the_lists():
    extended = Redactor(extra_keys=["account_number"], extra_patterns=[r"acct-[0-9]{6}"])
    assert extended.scrub_text("account_number=99 ref acct-123456 password=x") == (
        "account_number=REDACTED ref REDACTED password=REDACTED")
    only_mine = Redactor(extra_keys=["account_number"], replace_defaults=True)
    assert only_mine.scrub_text("account_number=99 password=x https://u:p@h/") == (
        "account_number=REDACTED password=x https://REDACTED:REDACTED@h/")
    assert Redactor(enabled=False).scrub_text("password=x") == "password=x"


def test_settings_build_the_redactor_and_reject_a_bad_pattern():
    from tl_otel.settings import resolve

    resolved = resolve({}, {"TL_OTEL_REDACT_KEYS": "acct, pin", "TL_OTEL_REDACT_PATTERNS": '["acct-[0-9]+", "x{2}"]'})
    assert resolved.redact_keys == ("acct", "pin") and resolved.redact_patterns == ("acct-[0-9]+", "x{2}")
    bad = resolve({}, {"TL_OTEL_REDACT_PATTERNS": "acct-[0-9"})
    [problem] = [p.message for p in bad.problems]
    assert "TL_OTEL_REDACT_PATTERNS" in problem and "does not compile" in problem and bad.redact_patterns == ()


def test_scout_path_carries_scouts_own_marker():
    from tl_otel.exporters.scout.naming import filtered_path

    assert filtered_path("/a?password=REDACTED&b=1") == "/a?b=1&password=%5BFILTERED%5D"


def test_user_header_capture_list_is_merged_with_scouts(monkeypatch):
    from tl_otel.integrations.fastapi import SCOUT_REQUEST_HEADERS, instrumentor_kwargs
    from tl_otel.settings import resolve

    monkeypatch.setenv("OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SERVER_REQUEST", "authorization,X-Tenant")
    kwargs = instrumentor_kwargs("fastapi", resolve({}, {}), ["json", "scout"])
    assert kwargs["http_capture_headers_server_request"] == [*SCOUT_REQUEST_HEADERS, "authorization", "X-Tenant"]


def test_tl_otels_own_lines_and_alert_text_are_redacted(python):
    ran = python("""
        import logging, tl_otel
        from tl_otel.alerting.channels import Channel, Notification
        tl_otel.configure(service_name="svc", settings={"alert_slack_webhook_url": "https://hooks.slack.com/services/T9/B9/abcdefgh123"},
                          instrument=False)
        logging.getLogger("tl_otel").warning("POST to /services/T9/B9/abcdefgh123 failed, key phc_abcdefghijklmnopq")
        sent = []
        class Capture(Channel):
            def deliver(self, n): sent.append(n)
        c = Capture(); c.send(Notification("[FIRING] /x?token=t0psecret", "see https://u:pw@h/")); c.wait_idle(5)
        print("SENT", sent[0].subject, sent[0].text)
    """, TL_OTEL_ALERTS="true")
    assert "abcdefgh123" not in ran.stderr and "phc_abc" not in ran.stderr and "failed, key REDACTED" in ran.stderr
    assert "SENT [FIRING] /x?token=REDACTED see https://REDACTED:REDACTED@h/" in ran.stdout


def test_baggage_is_not_copied_into_attributes(python):
    ran = python("""
        import tl_otel
        from opentelemetry import baggage, context, trace
        tl_otel.configure(service_name="svc", instrument=False)
        token = context.attach(baggage.set_baggage("user.email", "bob@example.com"))
        with trace.get_tracer("t").start_as_current_span("work", kind=trace.SpanKind.SERVER):
            pass
        context.detach(token)
    """)
    [span] = [r for r in ran.json_lines() if r["type"] == "span"]
    assert "bob@example.com" not in json.dumps(span)


# -- property-based: never raises, always one valid JSON line ------------------------------------------
class Unprintable:
    """``str()`` raises (a broken ``repr`` too is covered in test_json_lines; hypothesis needs repr to report)."""

    def __str__(self):
        raise RuntimeError("no")

    def __repr__(self):
        return "Unprintable()"


scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True, allow_infinity=True),
    st.text(), st.binary(), st.builds(Unprintable), st.just("\ud800"), st.just("password=x&token=y"),
)
values = st.recursive(scalars, lambda children: st.one_of(
    st.lists(children, max_size=5), st.dictionaries(st.text(max_size=12), children, max_size=5),
    st.tuples(children, children)), max_leaves=30)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.text(max_size=20), values, max_size=8))
def test_redaction_and_the_json_writer_never_raise_and_give_one_line(fields):
    record = to_jsonable(fields, max_length=2000)
    changes, _ = redactor.redact_attributes(record)
    record = with_changes(record, changes)
    body = redactor.scrub_value(record)
    line = encode_line({"type": "log", "fields": body})
    assert line.endswith(b"\n") and line.count(b"\n") == 1

    def no_constants(name):
        raise AssertionError(f"{name} is not JSON")

    assert isinstance(json.loads(line.decode("utf-8"), parse_constant=no_constants), dict)


# -- values end where their syntax ends (the table in docs/security.md) ------------------------------------
VALUE_ENDS = [
    # quoted: to the closing unescaped quote, escaped quotes inside
    ('{"password": "abc X", "user": "bob"}', '{"password": "REDACTED", "user": "bob"}'),
    ('{"password": "a\\"b X", "user": "bob"}', '{"password": "REDACTED", "user": "bob"}'),
    ("{'password': 'x y', 'user': 'bob'}", "{'password': 'REDACTED', 'user': 'bob'}"),
    ('{\\"password\\": \\"abc X\\", \\"u\\": 1}', '{\\"password\\": \\"REDACTED\\", \\"u\\": 1}'),
    ('"password":"abc","user":"bob"', '"password":"REDACTED","user":"bob"'),
    ('password: "no closing quote', 'password: "REDACTED'),
    # query or form: to & or the end
    ("/reset?token=Pa55#X&next=/home", "/reset?token=REDACTED&next=/home"),
    ("access_token=t1&client_secret=c1&page=2", "access_token=REDACTED&client_secret=REDACTED&page=2"),
    # free text: to whitespace or the end of the line, #;@ and quotes included
    ("login password=Pa55#X done", "login password=REDACTED done"),
    ("secret: hunter2;X then", "secret: REDACTED then"),
    ("db_password=p@ss'w\"d user=bob", "db_password=REDACTED user=bob"),
    ("Authorization: Bearer abc.def.ghi", "Authorization: Bearer REDACTED"),
    ("password = abc def", "password = REDACTED def"),
    # URL userinfo: up to the last @ before the host
    ("postgresql://bob:p@X@db.example/x", "postgresql://REDACTED:REDACTED@db.example/x"),
    ("see http://a.test/x and http://b@c.test/", "see http://a.test/x and http://REDACTED:REDACTED@c.test/"),
    ('{"u":"http://x.test","b":"c@d"}', '{"u":"http://x.test","b":"c@d"}'),
]


@pytest.mark.parametrize(("text", "expected"), VALUE_ENDS)
def test_a_value_is_removed_to_its_real_end(text, expected):
    assert redactor.scrub_text(text) == expected


def test_configured_secrets_are_found_url_encoded_base64_encoded_and_lowercased():
    import base64
    from urllib.parse import quote

    secret = "S3cr/t+Key=9"
    mine = Redactor(secrets=[secret])
    for form in (secret, quote(secret, safe=""), base64.b64encode(secret.encode()).decode(),
                 base64.urlsafe_b64encode(secret.encode()).decode().rstrip("="), secret.lower()):
        assert mine.scrub_text(f"x {form} y") == f"x {MARKER} y", form
    assert Redactor(secrets=["abc12"]).scrub_text("abc12") == "abc12"  # under 6 characters: not searched


def _nested_unbounded_repeats(pattern: re.Pattern[str]) -> list[str]:
    """Unbounded repetitions inside another unbounded repetition (the shape of catastrophic backtracking)."""
    try:
        from re import _constants as constants
        from re import _parser as parser
    except ImportError:  # Python 3.10
        import sre_constants as constants
        import sre_parse as parser

    repeats = {constants.MAX_REPEAT, constants.MIN_REPEAT, getattr(constants, "POSSESSIVE_REPEAT", None)}
    found: list[str] = []

    def walk(items, inside: bool) -> None:
        for op, arg in items:
            if op in repeats:
                _low, high, body = arg
                unbounded = high == constants.MAXREPEAT or high > 1
                if unbounded and inside:
                    found.append(str(body))
                walk(body, inside or unbounded)
            elif op is constants.BRANCH:
                for branch in arg[1]:
                    walk(branch, inside)
            elif op is constants.SUBPATTERN:
                walk(arg[-1], inside)
            elif op in (constants.ASSERT, constants.ASSERT_NOT):
                walk(arg[1], inside)

    walk(parser.parse(pattern.pattern, pattern.flags), False)
    return found


@pytest.mark.parametrize("built", [
    Redactor(secrets=["phc_configuredkey1234567890"]), Redactor(replace_defaults=True, extra_keys=["pin"]),
    Redactor(extra_keys=["account_number"]),
], ids=["defaults", "replaced", "extended"])
def test_the_patterns_match_in_linear_time(built):
    # No unbounded repetition inside another: Python's backtracking engine stays linear on any input (the
    # benchmark gives the time of a 16 KiB adversarial string). User patterns are the user's own.
    from tl_otel.redaction import redactor as module

    patterns = [*built.patterns, module._SQL_LITERAL, module._COLON_PAIR, module._SQL_IN_TEXT,
                module._CODE_LITERAL]
    assert {p.pattern: _nested_unbounded_repeats(p) for p in patterns} == {p.pattern: [] for p in patterns}


def test_deep_values_are_replaced_past_the_depth_limit():
    from tl_otel.redaction.redactor import MAX_DEPTH

    deep: dict = {"note": "kept", "password": "p"}
    for _ in range(MAX_DEPTH + 2):
        deep = {"level": deep}
    scrubbed = redactor.scrub_value({"top": "ok", "deep": deep})
    assert scrubbed["top"] == "ok" and "'p'" not in repr(scrubbed) and MARKER in repr(scrubbed)
    assert Redactor(enabled=False).scrub_value(deep) is deep


# -- every field of a span and a log record ------------------------------------------------------------
def test_the_field_tables_cover_every_field_the_sdk_has():
    # A field a new SDK version adds must be decided on (redacted, or carries no text), never passed silently.
    import dataclasses

    from opentelemetry._logs import LogRecord
    from opentelemetry.sdk._logs import ReadWriteLogRecord
    from opentelemetry.sdk.metrics import export as metric_export
    from opentelemetry.sdk.metrics._internal.exemplar.exemplar import Exemplar
    from opentelemetry.sdk.trace import ReadableSpan

    from tl_otel.redaction.metrics import METRIC_FIELDS
    from tl_otel.redaction.redactor import LOG_HOLDER_FIELDS, LOG_RECORD_FIELDS, SPAN_FIELDS

    assert set(vars(ReadableSpan(name="x"))) == set(SPAN_FIELDS)
    assert set(vars(LogRecord())) == set(LOG_RECORD_FIELDS)
    assert {f.name for f in dataclasses.fields(ReadWriteLogRecord)} == set(LOG_HOLDER_FIELDS)
    classes = {name: getattr(metric_export, name, None) for name in METRIC_FIELDS} | {"Exemplar": Exemplar}
    assert {name: {f.name for f in dataclasses.fields(cls)} for name, cls in classes.items()} == {
        name: set(fields) for name, fields in METRIC_FIELDS.items()}


SECRET = "cnryConfigured77"


def test_every_text_field_of_a_span_is_redacted():
    from opentelemetry.trace import Link, NonRecordingSpan, SpanContext, TraceFlags, TraceState, set_span_in_context

    mine = Redactor(secrets=[SECRET])
    memory = InMemorySpanExporter()
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(SimpleSpanProcessor(memory))
    remote = SpanContext(0xABC, 0xDEF, True, TraceFlags(1), TraceState([("vendor", f"ts-{SECRET}")]))
    tracer = provider.get_tracer(f"scope {SECRET}", f"v-{SECRET}")
    link = Link(remote, {"note": f"link {SECRET}"})
    with tracer.start_as_current_span(f"GET /reset?token={SECRET}x", context=set_span_in_context(
            NonRecordingSpan(remote)), links=[link], attributes={f"key.{SECRET}": "v"}) as span:
        span.add_event(f"event {SECRET}", {"note": f"event password={SECRET}"})
    [finished] = memory.get_finished_spans()
    mine.redact_span(finished)
    assert finished.name == "GET /reset?token=REDACTED"
    assert finished.events[0].name == "event REDACTED" and finished.events[0].attributes["note"] == (
        "event password=REDACTED")
    assert finished.links[0].attributes["note"] == "link REDACTED"
    assert finished.context.trace_state["vendor"] == "ts-REDACTED"
    assert finished.links[0].context.trace_state["vendor"] == "ts-REDACTED"
    assert finished.instrumentation_scope.name == "scope REDACTED"
    assert finished.instrumentation_scope.version == "v-REDACTED"
    assert finished.attributes["key.REDACTED"] == MARKER  # a key holding a secret: renamed, value replaced
    assert set(finished.attributes["tl.redacted"]) == {"name", "event.name", "note", "link.note", "trace_state",
                                                        "link.trace_state", "key.REDACTED"}
    assert SECRET not in finished.to_json()


def test_every_text_field_of_a_log_record_is_redacted():
    from opentelemetry._logs import LogRecord
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
    from opentelemetry.sdk.resources import Resource

    mine = Redactor(secrets=[SECRET])
    memory = InMemoryLogRecordExporter()
    provider = LoggerProvider(resource=Resource({"note": f"res {SECRET}"}), shutdown_on_exit=False)
    provider.add_log_record_processor(SimpleLogRecordProcessor(memory))
    body: dict = {"password": "deep"}
    for _ in range(12):
        body = {"level": body}
    provider.get_logger(f"app.{SECRET}").emit(LogRecord(
        body={"note": f"body {SECRET}", "nested": body, f"k {SECRET}": 1}, severity_text=f"sev {SECRET}",
        event_name=f"event {SECRET}", attributes={"note": f"attr {SECRET}"}))
    [record] = memory.get_finished_logs()
    mine.redact_log(record)
    log_record = record.log_record
    assert log_record.body["note"] == "body REDACTED" and "deep" not in repr(log_record.body)
    assert log_record.severity_text == "sev REDACTED" and log_record.event_name == "event REDACTED"
    assert log_record.attributes["note"] == "attr REDACTED"
    assert record.instrumentation_scope.name == "app.REDACTED"
    assert record.resource.attributes["note"] == "res REDACTED"
    assert SECRET not in record.to_json()


def test_turned_off_redaction_leaves_names_alone():
    span = _span()
    span._name = "GET /x?token=abc"
    Redactor(enabled=False).redact_span(span)
    assert span.name == "GET /x?token=abc" and "tl.redacted" not in span.attributes


# -- metrics -------------------------------------------------------------------------------------------
def _collect(mine: Redactor, record) -> dict:
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    from tl_otel.redaction import metrics as metrics_redaction

    reader = InMemoryMetricReader()
    metrics_redaction.install(reader, mine)
    provider = MeterProvider(metric_readers=[reader], shutdown_on_exit=False)
    record(provider.get_meter(f"meter {SECRET}"))
    data = reader.get_metrics_data()
    provider.shutdown()
    [scope] = data.resource_metrics[0].scope_metrics
    return {"scope": scope.scope.name, **{metric.name: [(dict(p.attributes), p) for p in metric.data.data_points]
                                         for metric in scope.metrics}}


def test_metric_points_made_identical_by_redaction_are_merged():
    def record(meter):
        counter = meter.create_counter(f"requests.{SECRET}", description=f"about {SECRET}")
        counter.add(1, {"password": "a", "url": "https://bob:pw1@h.test/"})
        counter.add(2, {"password": "b", "url": "https://al:pw2@h.test/"})
        counter.add(5, {"route": "/x"})
        histogram = meter.create_histogram("latency")
        histogram.record(1.0, {"token": "a"})
        histogram.record(30.0, {"token": "b"})
        gauge = meter.create_gauge("temperature")
        gauge.set(3, {"session_id": "a"})
        gauge.set(4, {"session_id": "b"})

    got = _collect(Redactor(secrets=[SECRET]), record)
    assert got["scope"] == "meter REDACTED"
    [(merged, sum_point), (kept, _)] = got["requests.REDACTED"]
    assert merged == {"password": MARKER, "url": "https://REDACTED:REDACTED@h.test/"} and sum_point.value == 3
    assert kept == {"route": "/x"}
    [(attributes, histogram)] = got["latency"]
    assert attributes == {"token": MARKER} and histogram.count == 2 and histogram.sum == 31.0
    assert (histogram.min, histogram.max) == (1.0, 30.0) and sum(histogram.bucket_counts) == 2
    [(attributes, gauge)] = got["temperature"]
    assert attributes == {"session_id": MARKER} and gauge.value == 4
    assert all("tl.redacted" not in attributes for points in got.values() if isinstance(points, list)
               for attributes, _ in points)


def test_exponential_histograms_are_merged_at_a_common_scale():
    from opentelemetry.sdk.metrics.export import Buckets, ExponentialHistogramDataPoint

    from tl_otel.redaction.metrics import MAX_EXPONENTIAL_BUCKETS, _merge

    def point(scale, offset, counts, value):
        return ExponentialHistogramDataPoint(
            attributes={"token": MARKER}, start_time_unix_nano=1, time_unix_nano=2, count=sum(counts), sum=value,
            scale=scale, zero_count=1, positive=Buckets(offset, counts), negative=Buckets(0, []), flags=0,
            min=value, max=value)

    merged = _merge(point(3, 8, [1, 2], 2.0), point(2, 100, [4], 1000.0), gauge=False)
    assert merged.count == 7 and merged.zero_count == 2 and merged.sum == 1002.0
    assert sum(merged.positive.bucket_counts) == 7 and len(merged.positive.bucket_counts) < MAX_EXPONENTIAL_BUCKETS
    assert merged.scale <= 2 and (merged.min, merged.max) == (2.0, 1000.0)


def test_metrics_follow_the_redaction_settings():
    def record(meter):
        meter.create_counter("calls").add(1, {"password": "a", "url": "https://bob:pw@h.test/"})

    [(attributes, _)] = _collect(Redactor(enabled=False), record)["calls"]
    assert attributes == {"password": "a", "url": "https://bob:pw@h.test/"}
    [(attributes, _)] = _collect(Redactor(replace_defaults=True), record)["calls"]
    assert attributes == {"password": "a", "url": "https://REDACTED:REDACTED@h.test/"}


# -- names derived from a span name --------------------------------------------------------------------
@pytest.mark.parametrize(("name", "derived"), [
    ("GET /reset?token=REDACTED&next=x", "GET /reset"), ("GET ?page=2", "GET"), ("is it ready?", "is it ready?"),
    ("GET https://h.test/a?b=1 retry", "GET https://h.test/a retry"), ("GET /engines/{id}", "GET /engines/{id}"),
])
def test_names_derived_from_a_span_name_drop_the_query_string(name, derived):
    from tl_otel.semantics.span_names import without_query

    assert without_query(name) == derived


def test_derived_names_have_no_query_in_json_lines_scout_and_posthog(recorder):
    from tl_otel.exporters.scout.naming import root_operation, span_operation

    tracer, memory = recorder
    with tracer.start_as_current_span("GET /reset?token=abc", kind=SpanKind.SERVER), \
            tracer.start_as_current_span("render /page?x=1"):
        pass
    child, root = memory.get_finished_spans()
    assert root_operation(root, root.attributes) == "Controller/GET /reset"
    assert span_operation(child, child.attributes)[0] == "Custom/render /page"


def test_exemplar_attributes_are_redacted():
    from opentelemetry.sdk.metrics._internal.exemplar.exemplar import Exemplar
    from opentelemetry.sdk.metrics.export import (
        AggregationTemporality,
        Metric,
        MetricsData,
        NumberDataPoint,
        ResourceMetrics,
        ScopeMetrics,
        Sum,
    )
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.util.instrumentation import InstrumentationScope

    from tl_otel.redaction.metrics import redact_metrics_data

    exemplar = Exemplar({"user.token": "t1", "note": f"by {SECRET}"}, 1.0, 5, 1, 2)
    point = NumberDataPoint({"route": "/x"}, 1, 2, 1, [exemplar])
    data = MetricsData([ResourceMetrics(Resource({}), [ScopeMetrics(InstrumentationScope("m"), [Metric(
        "calls", None, None, Sum([point], AggregationTemporality.DELTA, True))], "")], "")])
    redacted = redact_metrics_data(Redactor(secrets=[SECRET]), data)
    [new_point] = redacted.resource_metrics[0].scope_metrics[0].metrics[0].data.data_points
    assert dict(new_point.exemplars[0].filtered_attributes) == {"user.token": MARKER, "note": "by REDACTED"}
    assert new_point.attributes == {"route": "/x"} and new_point.value == 1


def test_replaced_defaults_apply_to_names_too():
    only_mine = Redactor(secrets=[SECRET], replace_defaults=True, extra_keys=["pin"])
    span = _span()
    span._name = f"GET /x?password=p1&pin=42 {SECRET} https://u:pw@h.test/"
    only_mine.redact_span(span)
    assert span.name == "GET /x?password=p1&pin=REDACTED REDACTED https://REDACTED:REDACTED@h.test/"
