"""Data goes where the user said or nowhere: every destination setting (PostHog host, Scout's core agent
socket, the OTLP endpoint, the Slack webhook, the SMTP host, the alert Redis URL) is read by one endpoint
parser. A form without a scheme is the user's host (``host:port``); what cannot be read as a host is refused
with one WARNING naming the setting, and the destination is off: never a default host instead.

The processes under test record every name they resolve and every address they connect to through
Python's audit hooks (``socket.getaddrinfo``, ``socket.connect``), so a test sees each host a destination
tried, not only what reached the local recorders."""

from __future__ import annotations

import json
import uuid

import pytest

from examples.peers.fake_core_agent import FakeCoreAgent
from examples.peers.posthog_capture import PostHogCapture
from examples.peers.waiting import wait_for
from examples.peers.webhook import WebhookReceiver
from examples.processes import free_port
from tests.conftest import run_python
from tl_otel.settings import resolve

# Every name resolved and every address connected to by the process, one JSON line each.
AUDIT = """
import json as _json, os as _os, sys as _sys
_audit = open(_os.environ["AUDIT_LOG"], "a", buffering=1)
def _hook(event, args):
    if event == "socket.getaddrinfo":
        _audit.write(_json.dumps(["resolve", str(args[0]), str(args[1])]) + "\\n")
    elif event == "socket.connect":
        _audit.write(_json.dumps(["connect", repr(args[1])]) + "\\n")
_sys.addaudithook(_hook)
"""

ONE_REQUEST = AUDIT + """
import logging, tl_otel
from opentelemetry import trace
tl_otel.configure(instrument=False)
with trace.get_tracer("t").start_as_current_span("GET /items", kind=trace.SpanKind.SERVER,
        attributes={"http.route": "/items", "http.method": "GET", "http.status_code": 200}):
    logging.getLogger("app").warning("one log line")
tl_otel.force_flush(5)
tl_otel.shutdown(5)
"""

ALERTS_TEST = AUDIT + """
from tl_otel.cli import main
raise SystemExit(main(["alerts", "test"]))
"""


def audited(tmp_path) -> tuple[str, callable]:
    log = tmp_path / f"audit-{uuid.uuid4().hex}.jsonl"

    def read() -> list[list[str]]:
        return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    return str(log), read


def warnings_naming(stderr: str, variable: str) -> list[str]:
    lines = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    return [line["message"] for line in lines if line.get("level") == "WARNING" and variable in line["message"]]


# -- the parser: each partial form read as the user's host, each bad one refused -----------------------

@pytest.mark.parametrize(("variable", "raw", "read_as"), [
    ("POSTHOG_HOST", "posthog.internal:8000", "http://posthog.internal:8000"),
    ("POSTHOG_HOST", "posthog.internal:443", "https://posthog.internal:443"),
    ("POSTHOG_HOST", "posthog.internal", "https://posthog.internal"),
    ("POSTHOG_HOST", "HTTPS://eu.i.posthog.com/", "https://eu.i.posthog.com"),
    ("SCOUT_CORE_AGENT_SOCKET_PATH", "agent.internal:6590", "tcp://agent.internal:6590"),
    ("SCOUT_CORE_AGENT_SOCKET_PATH", "/run/scout/core-agent.sock", "/run/scout/core-agent.sock"),
    ("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4318", "http://collector:4318"),
    ("TL_OTEL_ALERT_SLACK_WEBHOOK_URL", "hooks.slack.com/services/T/B/x", "https://hooks.slack.com/services/T/B/x"),
    ("TL_OTEL_ALERT_REDIS_URL", "redis.internal:6380", "redis://redis.internal:6380"),
    ("TL_OTEL_SMTP_HOST", "smtp.example.com", "smtp.example.com"),
])
def test_a_form_without_a_scheme_is_the_users_host(variable, raw, read_as):
    settings = resolve({}, {variable: raw})
    assert not settings.problems
    assert read_as in {getattr(settings, name) for name in ("posthog_host", "scout_socket_path", "otlp_endpoint",
                                                            "alert_slack_webhook_url", "alert_redis_url", "smtp_host")}


BAD_FORMS = {
    "POSTHOG_HOST": ("http://", "ftp://posthog.internal", "posthog internal:8000", "http://:8000",
                     "https://posthog.internal:99999"),
    "SCOUT_CORE_AGENT_SOCKET_PATH": ("tcp://:6590", "tcp://127.0.0.1", "tcp://agent:port", "unix:///x.sock"),
    "OTEL_EXPORTER_OTLP_ENDPOINT": ("http://", "grpc://collector:4317", "http://:4318"),
    "TL_OTEL_ALERT_SLACK_WEBHOOK_URL": ("http://", "ftp://hooks.slack.com/x", "hooks slack com"),
    "TL_OTEL_SMTP_HOST": ("smtp.example.com:25", "smtp://smtp.example.com", "smtp.example.com/x"),
    "TL_OTEL_ALERT_REDIS_URL": ("redis://", "http://127.0.0.1:6379", "redis://:pw@:6379/0"),
}


@pytest.mark.parametrize(("variable", "raw"), [(v, raw) for v, forms in BAD_FORMS.items() for raw in forms])
def test_a_bad_endpoint_is_refused_with_one_warning_and_its_destination_is_off(variable, raw):
    settings = resolve({}, {variable: raw})
    (problem,) = settings.problems
    assert problem.source == variable and "no default host is used instead" in problem.message
    assert getattr(settings, problem.setting.name) is None  # not the default host
    if problem.setting.secret:  # a webhook or Redis URL carries its token or password: shown masked
        assert problem.message.startswith(f"{variable}=<secret, {len(raw)} chars>")


# -- processes: nothing goes to a default host --------------------------------------------------------

@pytest.mark.parametrize("form", range(3))
def test_refused_endpoints_send_nothing_anywhere_and_say_so_once_each(tmp_path, form):
    log, audit = audited(tmp_path)
    chosen = {variable: forms[form % len(forms)] for variable, forms in BAD_FORMS.items()}
    ran = run_python(ONE_REQUEST, AUDIT_LOG=log, POSTHOG_API_KEY="phc_endpoint_test", SCOUT_KEY="scout-endpoint",
                     SCOUT_CORE_AGENT_LAUNCH="false", OTEL_LOGS_EXPORTER="json,otlp",
                     TL_OTEL_ALERT_EMAIL_TO="oncall@example.com", TL_OTEL_ALERT_EVAL_INTERVAL_S="0.1",
                     TL_OTEL_ALERT_STORE="process", **chosen)
    assert ran.returncode == 0, ran.stderr
    for variable in chosen:
        assert len(warnings_naming(ran.stderr, variable)) == 1, (variable, ran.stderr)
    assert [line for line in ran.json_lines() if line.get("type") == "span"], ran.stdout  # JSON lines still work
    # No name resolved and no address connected to: not PostHog's cloud, not localhost:4318 or :6590 or :6379.
    assert audit() == []


def test_partial_forms_reach_the_users_own_hosts(tmp_path):
    log, audit = audited(tmp_path)
    posthog, collector = PostHogCapture(), PostHogCapture()
    agent_port = free_port()
    agent = FakeCoreAgent(f"tcp://127.0.0.1:{agent_port}")
    try:
        ran = run_python(ONE_REQUEST, AUDIT_LOG=log, POSTHOG_API_KEY="phc_endpoint_test",
                         POSTHOG_HOST=posthog.url.removeprefix("http://"), SCOUT_KEY="scout-endpoint",
                         SCOUT_CORE_AGENT_LAUNCH="false", SCOUT_CORE_AGENT_SOCKET_PATH=f"127.0.0.1:{agent_port}",
                         OTEL_LOGS_EXPORTER="json,otlp", OTEL_EXPORTER_OTLP_ENDPOINT=collector.url.removeprefix("http://"))
        assert ran.returncode == 0, ran.stderr
        assert wait_for(lambda: posthog.named("api_request"), 20), ran.stderr
        assert wait_for(lambda: agent.named("Register"), 20), ran.stderr
        assert wait_for(lambda: any(r.path == "/v1/logs" for r in collector.received), 20), ran.stderr
        assert not [line for line in ran.stderr.splitlines() if '"WARNING"' in line], ran.stderr
        resolved = {host for kind, host, *_ in audit() if kind == "resolve"}
        assert resolved <= {"127.0.0.1"}, resolved
    finally:
        posthog.stop(), collector.stop(), agent.stop()


def test_alert_channels_refused_or_read_as_the_users_host(tmp_path):
    hook = WebhookReceiver()
    try:
        log, audit = audited(tmp_path)
        ran = run_python(ALERTS_TEST, AUDIT_LOG=log, TL_OTEL_ALERT_SLACK_WEBHOOK_URL=hook.url.removeprefix("http://"))
        assert ran.returncode == 0, ran.stdout + ran.stderr
        assert len(hook.texts) == 1 and "[TEST]" in hook.texts[0]

        log, audit = audited(tmp_path)
        ran = run_python(ALERTS_TEST, AUDIT_LOG=log, TL_OTEL_ALERT_SLACK_WEBHOOK_URL="http://",
                         TL_OTEL_SMTP_HOST="smtp.example.com:25", TL_OTEL_ALERT_EMAIL_TO="oncall@example.com")
        assert ran.returncode == 2, ran.stdout + ran.stderr  # no channel left: nothing sent
        warned = [line for line in ran.stderr.splitlines() if line.startswith("warning:")]
        assert len(warned) == 2 and "TL_OTEL_ALERT_SLACK_WEBHOOK_URL" in warned[0] and "TL_OTEL_SMTP_HOST" in warned[1]
        assert audit() == []
    finally:
        hook.stop()


DASHBOARD = AUDIT + """
from tl_otel.cli import main
raise SystemExit(main(["dashboard", "posthog"]))
"""


def test_the_dashboard_command_never_falls_back_to_posthogs_cloud(tmp_path):
    log, audit = audited(tmp_path)
    ran = run_python(DASHBOARD, AUDIT_LOG=log, TL_OTEL_POSTHOG_PERSONAL_API_KEY="phx_endpoint_test",
                     TL_OTEL_POSTHOG_PROJECT_ID="1", TL_OTEL_POSTHOG_API_HOST="ftp://posthog.internal")
    assert ran.returncode == 2, ran.stdout + ran.stderr
    assert "TL_OTEL_POSTHOG_API_HOST" in ran.stderr
    assert audit() == []  # before: the API host fell back to POSTHOG_HOST's default, PostHog's cloud


def test_a_refused_url_with_a_password_is_named_without_it():
    # Printed by every command that reads settings (tl-otel tail, dashboard, alerts test) and by start-up.
    settings = resolve({}, {"POSTHOG_HOST": "ftp://bob:Hunter2secret@ph.example"})
    messages = [problem.message for problem in settings.problems]
    assert messages and "POSTHOG_HOST" in messages[0]
    assert not [message for message in messages if "Hunter2secret" in message]
    assert not [row for row in settings.display() if "Hunter2secret" in row[1]]


def test_a_refused_scout_errors_host_turns_only_that_destination_off():
    from tl_otel.startup.exporter_selection import selected_exporters

    settings = resolve({}, {"SCOUT_KEY": "scout-key-123", "SCOUT_MONITOR": "true", "SCOUT_ERRORS_HOST": "ftp://x y"})
    assert any("SCOUT_ERRORS_HOST" in problem.message for problem in settings.problems)
    traces = selected_exporters("traces", settings)
    assert "scout" in traces and "scout_errors" not in traces
