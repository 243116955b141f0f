"""The redaction step on its own: what is replaced, what is kept, the markers, the settings that extend it,
and (property-based) that it and the JSON line writer never raise and always give one valid line."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, Status, StatusCode

from tl_otel.exporters.jsonl.encoder import encode_line
from tl_otel.redaction.redactor import MARKER, Redactor
from tl_otel.safe_values import to_jsonable

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
    from tl_otel.instrumentation_options import SCOUT_REQUEST_HEADERS, instrumentor_kwargs
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
    record = {**record, **changes}
    body = redactor.scrub_value(record)
    line = encode_line({"type": "log", "fields": body})
    assert line.endswith(b"\n") and line.count(b"\n") == 1

    def no_constants(name):
        raise AssertionError(f"{name} is not JSON")

    assert isinstance(json.loads(line.decode("utf-8"), parse_constant=no_constants), dict)
