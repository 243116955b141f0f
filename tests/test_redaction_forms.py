"""Secrets in the forms a first probe found leaking, through every real destination (JSON lines, PostHog
events and logs, Scout frames, OTLP): bytes values and keys, camelCase and vendor-style key names, bracketed
and encoded query keys (Scout's ``path`` tag too), an encoded redirect's token, SQL literals and parameters
inside exception messages and tracebacks, and a configured secret written upper-cased. Each canary is unique,
so a leak names its form; with redaction off, every canary reaches some destination (the forms are live)."""

from __future__ import annotations

import pytest

from tests.test_redaction_destinations import SECRET, _received
from tl_otel.redaction.key_names import key_words
from tl_otel.redaction.redactor import Redactor

# The application, written to a file so tracebacks carry their source lines (PostHog's context line).
APP = '''
import logging, sys
import sqlalchemy
import tl_otel
from opentelemetry import trace

runtime = tl_otel.configure(service_name="svc", instrument=False)
tracer = trace.get_tracer("t")
engine = sqlalchemy.create_engine("sqlite://")
with engine.begin() as conn:
    conn.execute(sqlalchemy.text("CREATE TABLE users (name TEXT UNIQUE, pw TEXT)"))
    conn.execute(sqlalchemy.text("INSERT INTO users VALUES ('bob', 'x')"))
log = logging.getLogger("app")

def literal_insert():
    with engine.begin() as conn:
        conn.execute(sqlalchemy.text("INSERT INTO users VALUES ('bob', 'cnryliteral')"))

def parameter_insert():
    with engine.begin() as conn:
        conn.execute(sqlalchemy.text("INSERT INTO users VALUES (:n, :p)"), {"n": "bob", "p": "cnryparam"})

with tracer.start_as_current_span("GET /items", kind=trace.SpanKind.SERVER, attributes={
        "http.method": "GET", "http.route": "/items", "http.status_code": 500,
        "http.target": "/items?user[password]=cnrybracket&q=1&user%5Bpassword%5D=cnryencbracket"
                       "&next=%2Freset%3Ftoken%3Dcnryredirect",
        "x": b"password=cnrybval",
        "accessToken": "cnrycamel", "clientSecret": "cnryclientsecret",
        "note": "aws_secret_access_key=cnryaws PGPASSWORD=cnrypg DB_PASS=cnrydbpass PASSPHRASE=cnryphrase "
                "/a;jsessionid=cnryjsession",
        "config": "db:\\n  password:\\n    cnryyaml\\n  user: bob",
        "key.note": "configured " + SECRET.upper()}) as span:
    for insert in (literal_insert, parameter_insert):
        try:
            insert()
        except sqlalchemy.exc.IntegrityError as exc:
            span.record_exception(exc)
            span.set_status(trace.Status(trace.StatusCode.ERROR, str(exc)))
            log.exception("insert failed")
    log.warning("bytes key and upper-cased key %s", SECRET.upper(), extra={"ctx": {b"password": "cnrybyteskey"}})
sys.exit(0 if runtime.shutdown(20) else 3)
'''

CANARIES = ["cnryliteral", "cnryparam", "cnrybracket", "cnryencbracket", "cnryredirect", "cnrybval", "cnrycamel",
            "cnryclientsecret", "cnryaws", "cnrypg", "cnrydbpass", "cnryphrase", "cnryjsession", "cnryyaml",
            "cnrybyteskey", SECRET.upper()]


def _run(tmp_path, **extra: str) -> dict[str, bytes]:
    path = tmp_path / "app.py"
    path.write_text(APP.replace("SECRET", repr(SECRET)))
    received, _ = _received(tmp_path, app=f"import runpy; runpy.run_path({str(path)!r}, run_name='__main__')",
                            **extra)
    return received


@pytest.mark.e2e
def test_with_redaction_off_every_form_reaches_a_destination(tmp_path):
    received = _run(tmp_path, TL_OTEL_REDACT="false")
    reached = {canary for canary in CANARIES for data in received.values() if canary.encode() in data}
    assert sorted(set(CANARIES) - reached) == []


@pytest.mark.e2e
def test_no_form_of_a_secret_reaches_any_destination(tmp_path):
    received = _run(tmp_path)
    leaks = {where: [canary for canary in CANARIES if canary.encode() in data] for where, data in received.items()}
    assert leaks == {where: [] for where in received}
    # Scout's path tag keeps the bracketed keys, with Scout's own marker.
    assert b"%5Bpassword%5D=%5BFILTERED%5D" in received["scout"] or b"[password]=[FILTERED]" in received["scout"]
    assert b"INSERT INTO users VALUES (?, ?)" in received["posthog events"]  # the statement's shape stays


@pytest.mark.parametrize(("key", "words"), [
    ("accessToken", ["access", "token"]), ("clientSecret", ["client", "secret"]),
    ("aws_secret_access_key", ["aws", "secret", "access", "key"]), ("PGPASSWORD", ["pg", "password"]),
    ("DB_PASS", ["db", "pass"]), ("jsessionid", ["j", "sessionid"]), ("user[password]", ["user", "password"]),
    ("b'password'", ["b", "password"]), ("APIKey", ["api", "key"]), ("token_2", ["token"]),
    ("http.request.header.x-api-key", ["x", "api", "key"]), ("session.id", ["id"]),
])
def test_key_names_are_read_as_words(key, words):
    assert key_words(key) == words


@pytest.mark.parametrize("key", ["accessToken", "clientSecret", "aws_secret_access_key", "PGPASSWORD", "DB_PASS",
                                 "PASSPHRASE", "jsessionid", "user[password]", "b'password'", "APIKey",
                                 "X-Amz-Signature", "password2", "stripe_secret_key"])
def test_sensitive_key_names_in_any_spelling(key):
    assert Redactor().is_sensitive_key(key)


@pytest.mark.parametrize("key", ["tokens_used", "session.id", "discard", "encrypt", "http.route", "compass",
                                 "routing_key", "passing"])
def test_ordinary_names_stay(key):
    assert not Redactor().is_sensitive_key(key)


@pytest.mark.parametrize(("text", "expected"), [
    ("PGPASSWORD=s1 psql", "PGPASSWORD=REDACTED psql"),
    ("/a;jsessionid=s2", "/a;jsessionid=REDACTED"),
    ("password:\n  s3\nuser: bob", "password:\n  REDACTED\nuser: bob"),
    ("/p?user%5Bpassword%5D=s4&q=1", "/p?user%5Bpassword%5D=REDACTED&q=1"),
    ("/login?next=%2Freset%3Ftoken%3Ds5&a=1", "/login?next=%2Freset%3Ftoken%3DREDACTED&a=1"),
    ("[SQL: INSERT INTO u VALUES ('bob', 's6')]\n[parameters: ('bob', 's7')]",
     "[SQL: INSERT INTO u VALUES (?, ?)]\n[parameters: REDACTED]"),
    ("DETAIL:  Key (name)=(s8) already exists.", "DETAIL:  Key (name)=(REDACTED)"),
    ("""    conn.execute(text("INSERT INTO u VALUES (:n, :p)"), {"n": "bob", "p": "s9"})""",
     """    conn.execute(text("INSERT INTO u VALUES (:n, :p)"), {?: ?, ?: ?})"""),
    ("select 3 items from the list", "select 3 items from the list"),
    ("mode=fast discard=1 encrypt=yes compass=n", "mode=fast discard=1 encrypt=yes compass=n"),
])
def test_text_forms(text, expected):
    assert Redactor().scrub_text(text) == expected


def test_a_configured_secret_upper_cased_and_bytes_values_and_keys():
    redactor = Redactor(secrets=["Zq8cnrySecretKey"])
    assert redactor.scrub_text("k ZQ8CNRYSECRETKEY") == "k REDACTED"
    assert redactor.scrub_value(b"password=s9") == b"password=REDACTED"
    assert redactor.scrub_value({b"password": "s10"}) == {b"password": "REDACTED"}
