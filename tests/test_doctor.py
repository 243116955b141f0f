"""``tl-otel doctor`` against the local peers: all healthy → exit 0 and no data created; each destination
broken in turn (connection refused, credentials refused, hung) → exit 1 with a line that names the
destination and the cause; secrets never printed; ``--send`` delivers a probe; ``--json`` for machines;
advice for a server command line."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

from examples.peers.fake_core_agent import FakeCoreAgent
from examples.peers.hanging import HangingServer
from examples.peers.posthog_capture import Answer, PostHogCapture
from examples.peers.webhook import WebhookReceiver
from examples.processes import free_port
from tests.conftest import REPO, clean_env

POSTHOG_KEY = "phc_doctor_project_key_0123456789"
SCOUT_KEY = "doctor-scout-key-0123"
SMTP_PASSWORD = "doctor-smtp-password-42"


class Inbox:
    def __init__(self) -> None:
        self.messages: list[bytes] = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(envelope.content)
        return "250 OK"


@pytest.fixture
def peers(tmp_path):
    capture, collector, hook, inbox = PostHogCapture(), PostHogCapture(), WebhookReceiver(hang_s=10), Inbox()
    agent = FakeCoreAgent(str(tmp_path / "agent.sock"))

    def authenticate(server, session, envelope, mechanism, auth_data):
        # handled=False: aiosmtpd then answers a refusal with 535 (handled=True, its default, answers nothing)
        return AuthResult(success=auth_data.password == SMTP_PASSWORD.encode(), handled=False)

    smtp = Controller(inbox, hostname="127.0.0.1", port=free_port(), authenticator=authenticate,
                      auth_require_tls=False)
    smtp.start()
    env = {"POSTHOG_API_KEY": POSTHOG_KEY, "POSTHOG_HOST": capture.url, "SCOUT_KEY": SCOUT_KEY,
           "SCOUT_CORE_AGENT_SOCKET_PATH": agent.address, "SCOUT_CORE_AGENT_LAUNCH": "false",
           "OTEL_TRACES_EXPORTER": "json,posthog,scout,otlp", "OTEL_EXPORTER_OTLP_ENDPOINT": collector.url,
           "TL_OTEL_ALERT_SLACK_WEBHOOK_URL": hook.url, "TL_OTEL_SMTP_HOST": "127.0.0.1",
           "TL_OTEL_SMTP_PORT": str(smtp.port), "TL_OTEL_SMTP_TLS": "none", "TL_OTEL_SMTP_USERNAME": "alerts",
           "TL_OTEL_SMTP_PASSWORD": SMTP_PASSWORD, "TL_OTEL_ALERT_EMAIL_TO": "oncall@tl-engine.test",
           "OTEL_SERVICE_NAME": "doctor-test"}
    yield env, capture, agent, hook, inbox, collector, tmp_path
    for peer in (capture, collector, hook, agent, smtp):
        peer.stop()


def doctor(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tl_otel.cli", "doctor", "--timeout", "2", *args],
                          env=clean_env(**env), cwd=REPO, capture_output=True, text=True, timeout=120)


def assert_no_secret(done: subprocess.CompletedProcess) -> None:
    output = done.stdout + done.stderr
    for secret in (POSTHOG_KEY, SCOUT_KEY, SMTP_PASSWORD, "secretpath"):
        assert secret not in output, secret


def test_all_healthy_exits_0_and_creates_no_data(peers):
    env, capture, agent, hook, inbox, _collector, _ = peers
    done = doctor(env)
    assert done.returncode == 0, done.stdout + done.stderr
    for destination in ("posthog", "scout", "otlp", "slack", "email"):
        assert any(line.split()[:2] == ["ok", destination] for line in done.stdout.splitlines()), destination
    assert "TL_OTEL_SMTP_HOST" in done.stdout and "POSTHOG_API_KEY" in done.stdout  # sources are named
    assert "apply fastapi" in done.stdout.replace("  ", " ")
    assert capture.events() == [] and hook.received == [] and inbox.messages == []
    assert [next(iter(m)) for m in agent.messages] == ["Register"]  # Register only: no request, no span
    assert_no_secret(done)


@pytest.mark.parametrize(("destination", "breakage", "cause"), [
    ("posthog", "refused", "connection refused"),
    ("posthog", "401", "PostHog rejected the project API key (HTTP 401)"),
    ("posthog", "hung", "no answer within the timeout (hung)"),
    ("scout", "refused", "no core agent socket at"),
    ("scout", "hung", "no answer within the timeout (hung)"),
    ("otlp", "refused", "connection refused"),
    ("slack", "403", "the webhook URL was refused (HTTP 403"),
    ("slack", "hung", "no answer within the timeout (hung)"),
    ("email", "refused", "connection refused"),
    ("email", "401", "SMTP login refused (535)"),
])
def test_each_broken_destination_exits_1_naming_it_and_the_cause(peers, destination, breakage, cause):
    env, capture, _agent, hook, _inbox, _collector, tmp_path = peers
    env = dict(env)
    hanging = HangingServer()
    closed = f"http://127.0.0.1:{free_port()}"
    if destination == "posthog":
        if breakage == "401":
            capture.default = Answer(401)
        else:
            env["POSTHOG_HOST"] = closed if breakage == "refused" else hanging.url
    elif destination == "scout":
        if breakage == "refused":
            env["SCOUT_CORE_AGENT_SOCKET_PATH"] = str(tmp_path / "nothing-here.sock")
        else:
            mute = FakeCoreAgent(str(tmp_path / "mute.sock"), reply=False)
            env["SCOUT_CORE_AGENT_SOCKET_PATH"] = mute.address
    elif destination == "otlp":
        env["OTEL_EXPORTER_OTLP_ENDPOINT"] = closed
    elif destination == "slack":
        if breakage == "403":
            hook.answers = [(403, {})]
        else:
            env["TL_OTEL_ALERT_SLACK_WEBHOOK_URL"] = hanging.url + "/services/T0/B0/secretpath"
    elif destination == "email":
        if breakage == "refused":
            env["TL_OTEL_SMTP_PORT"] = str(free_port())
        else:
            env["TL_OTEL_SMTP_PASSWORD"] = "wrong-password-0000"
    try:
        done = doctor(env)
    finally:
        hanging.stop()
    assert done.returncode == 1, done.stdout
    [line] = [line for line in done.stdout.splitlines() if line.split()[:2] == ["FAILED", destination]]
    assert cause in line, line
    others = [line for line in done.stdout.splitlines() if line.startswith("  FAILED")]
    assert len(others) == 1, others  # only the broken one
    assert_no_secret(done)


def test_send_delivers_one_probe_through_each_destination(peers):
    env, capture, _agent, hook, inbox, _collector, _ = peers
    env = {**env, "OTEL_TRACES_EXPORTER": "json,posthog,scout"}
    done = doctor(env, "--send")
    assert done.returncode == 0, done.stdout + done.stderr
    assert [e["properties"]["route"] for e in capture.named("api_request")] == ["/tl-otel-doctor-probe"]
    assert "probe delivered" in done.stdout and "traces-scout" in done.stdout
    assert "alerts-slack" in done.stdout and "alerts-email" in done.stdout
    assert len(hook.texts) == 1 and "[TEST] tl-otel doctor probe" in hook.texts[0] and len(inbox.messages) == 1
    assert_no_secret(done)


def test_json_output_and_server_model_advice(peers):
    env = peers[0]
    done = doctor(env, "--json", "--", "celery", "-A", "app", "worker", "--pool=prefork",
                  "--max-tasks-per-child=1")
    report = json.loads(done.stdout)
    assert {c["destination"] for c in report["checks"] if c["ok"]} == {"posthog", "scout", "otlp", "slack", "email"}
    rows = {row["setting"]: row for row in report["configuration"]}
    assert rows["posthog_api_key"]["source"] == "POSTHOG_API_KEY"
    assert POSTHOG_KEY not in rows["posthog_api_key"]["value"]
    assert rows["span_queue_size"]["source"] == "default"
    advice = " ".join(report["server_model"])
    assert "worker_process_shutdown" in advice and "--max-tasks-per-child=1" in advice
    assert "not under opentelemetry-instrument" in advice
    assert_no_secret(done)
