"""The canary corpus: the example engine (API under ``opentelemetry-instrument`` and a Celery worker) with
every exporter on against local peers - PostHog capture server, Scout core agent, SMTP (aiosmtpd, with a
login), a Slack-style webhook and stdout/stderr - is fed secrets through URL userinfo, query strings,
headers, JSON bodies, log fields, exception messages and its own configured keys, under the old and the
stable HTTP semantic conventions. Not one canary may appear in any byte any peer received."""

from __future__ import annotations

import email
import email.policy
import json
from urllib.parse import unquote

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

from examples.peers.fake_core_agent import FakeCoreAgent
from examples.peers.posthog_capture import PostHogCapture
from examples.peers.pricing import PricingService
from examples.peers.waiting import wait_for
from examples.peers.webhook import WebhookReceiver
from examples.processes import base_env, free_port, request, start_api, start_worker, wait_http, wait_worker_ready

pytestmark = pytest.mark.e2e

# Each canary is unique, so a hit names the path that leaked it.
CANARIES = {
    "userinfo": "cnryUserinfo71",
    "query_token": "cnryQueryToken72",
    "query_api_key": "cnryQueryApiKey73",
    "query_password": "cnryQueryPassword74",
    "query_amz": "cnryQueryAmz75",
    "authorization": "cnryAuthorization76",
    "cookie": "cnryCookie77",
    "x_api_key": "cnryXApiKey78",
    "body_password": "cnryBodyPassword79",
    "callback_token": "cnryCallbackToken80",
    "exception_userinfo": "cnryExcUserinfo81",
    "exception_token": "cnryExcToken82",
    "scout_key": "cnryScoutKey83abcdef",
    "smtp_password": "cnrySmtpPassword84",
    "webhook_path": "cnryWebhookPath85",
}
POSTHOG_KEY = "phc_cnryPosthogKey86abcdefghijkl"
ALL = [*CANARIES.values(), POSTHOG_KEY]


class Inbox:
    def __init__(self) -> None:
        self.raw: list[bytes] = []

    async def handle_DATA(self, server, session, envelope):
        self.raw.append(envelope.original_content or envelope.content)
        return "250 OK"


def _authenticate(server, session, envelope, mechanism, auth_data):
    ok = auth_data.login == b"alerts" and auth_data.password == CANARIES["smtp_password"].encode()
    return AuthResult(success=ok)


def _without_auth_fields(posthog: PostHogCapture, agent: FakeCoreAgent) -> list[tuple[str, bytes]]:
    """Every captured payload, minus the one field each protocol needs the key in (PostHog's ``api_key``,
    Scout's Register ``key``): those are the secret's destination, not a leak."""
    captured: list[tuple[str, bytes]] = []
    for received in posthog.received:
        if received.body is not None:
            body = dict(received.body)
            body.pop("api_key", None)
            captured.append((f"posthog {received.path}", json.dumps(body).encode()))
        else:
            captured.append((f"posthog {received.path}", received.raw))  # OTLP logs: protobuf bytes
    for message in agent.messages:
        message = json.loads(json.dumps(message))
        message.get("Register", {}).pop("key", None)
        captured.append(("scout", json.dumps(message).encode()))
    return captured


def _run_corpus(tmp_path, semconv: str, **extra: str):
    """Run the engine on the corpus; return (captured payloads, posthog, agent, inbox, api)."""
    posthog, pricing, webhook, inbox = PostHogCapture(), PricingService(), WebhookReceiver(), Inbox()
    webhook.url = webhook.url.replace("secretpath", CANARIES["webhook_path"])
    agent = FakeCoreAgent(str(tmp_path / "core-agent.sock"))
    smtp = Controller(inbox, hostname="127.0.0.1", port=free_port(), authenticator=_authenticate,
                      auth_require_tls=False)
    smtp.start()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    pricing_with_userinfo = pricing.url.replace("http://", f"http://pricing:{CANARIES['userinfo']}@")
    env = base_env(
        tmp_path / "data", ENGINE_API_URL=url, PRICING_URL=pricing_with_userinfo, OTEL_SEMCONV_STABILITY_OPT_IN=semconv,
        OTEL_SERVICE_NAME="tl-engine", POSTHOG_API_KEY=POSTHOG_KEY, POSTHOG_HOST=posthog.url,
        TL_OTEL_POSTHOG_FLUSH_INTERVAL="0.2", OTEL_LOGS_EXPORTER="json,posthog",
        SCOUT_KEY=CANARIES["scout_key"], SCOUT_NAME="tl-engine", SCOUT_CORE_AGENT_SOCKET_PATH=str(agent.address),
        SCOUT_CORE_AGENT_LAUNCH="false",
        TL_OTEL_ALERT_SLACK_WEBHOOK_URL=webhook.url, TL_OTEL_SMTP_HOST="127.0.0.1", TL_OTEL_SMTP_PORT=str(smtp.port),
        TL_OTEL_SMTP_TLS="none", TL_OTEL_SMTP_USERNAME="alerts", TL_OTEL_SMTP_PASSWORD=CANARIES["smtp_password"],
        TL_OTEL_ALERT_EMAIL_TO="oncall@tl-engine.test", TL_OTEL_ALERT_MIN_REQUESTS="1", TL_OTEL_ALERT_FOR_S="0",
        TL_OTEL_ALERT_WINDOW_S="5", TL_OTEL_ALERT_EVAL_INTERVAL_S="0.3", TL_OTEL_ALERT_DISK_MIN_FREE="1b",
        OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SERVER_REQUEST=".*",
        OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_CLIENT_REQUEST=".*", **extra,
    )
    api = start_api(env, port, tmp_path / "logs")
    worker = start_worker(env, tmp_path / "logs")
    try:
        wait_http(f"{url}/health", process=api)
        wait_worker_ready(worker)
        import httpx

        query = (f"token={CANARIES['query_token']}&api_key={CANARIES['query_api_key']}"
                 f"&password={CANARIES['query_password']}&X-Amz-Signature={CANARIES['query_amz']}&color=blue")
        headers = {"Authorization": f"Bearer {CANARIES['authorization']}", "Cookie": f"session={CANARIES['cookie']}",
                   "X-Api-Key": CANARIES["x_api_key"]}
        pricing.status = 500  # failing quotes: the error-rate alert fires through both channels
        for _ in range(3):
            assert httpx.get(f"{url}/engines/engine-123/quote?{query}", headers=headers).status_code == 502
        pricing.status = 200
        assert httpx.get(f"{url}/engines/engine-123/quote?{query}", headers=headers).status_code == 200
        status, body = request("POST", f"{url}/executions", {
            "engine_id": "engine-broken",  # the broken engine: its error message echoes the input's URL
            "input": {"password": CANARIES["body_password"], "note": f"deploy key {CANARIES['scout_key']}",
                      "source": f"https://importer:{CANARIES['exception_userinfo']}@legacy.tl-engine.test/export"
                                f"?token={CANARIES['exception_token']}&k={POSTHOG_KEY}"},
            "callback_url": f"https://hooks.tl-engine.test/done?access_token={CANARIES['callback_token']}",
        })
        assert status == 202, body
        assert wait_for(lambda: posthog.named("engine_failed") and posthog.named("api_request"), 40)
        assert wait_for(lambda: webhook.received and inbox.raw, 20), "the alert reached both channels"
        assert wait_for(lambda: any("/quote" in json.dumps(m) for m in agent.messages), 20)
    finally:
        api.stop()
        worker.stop()
        smtp.stop()
        webhook.stop()
        pricing.stop()
        posthog.stop()
        agent.stop()

    captured = _without_auth_fields(posthog, agent)
    captured += [("webhook", body) for _, body in webhook.received]
    captured += [("smtp", raw) for raw in inbox.raw]
    for process in (api, worker):
        # stdout is tl-otel's JSON lines; on stderr, tl-otel's own diagnostics (uvicorn's access log and
        # Celery's plain-text task log are the application's own output, outside tl-otel's reach).
        ours = [line for line in process.stderr_path.read_bytes().splitlines()
                if line.startswith(b"{") and b'"logger":"tl_otel' in line]
        captured += [(f"{process.name} stdout", process.stdout_path.read_bytes()),
                     (f"{process.name} tl-otel stderr", b"\n".join(ours))]
    return captured, posthog, agent, inbox, api


def _leaks(captured: list[tuple[str, bytes]]) -> list[tuple[str, str]]:
    return [(where, canary) for where, data in captured for canary in ALL if canary.encode() in data]


def test_the_corpus_reaches_every_peer_when_redaction_is_off(tmp_path):
    # Proves the corpus is live: without the redaction step these canaries arrive (URL userinfo is already
    # stripped by the instrumentations, and the SMTP password only ever travels in AUTH).
    captured, *_ = _run_corpus(tmp_path, "", TL_OTEL_REDACT="false")
    leaked = {canary for _, canary in _leaks(captured)}
    expected = set(ALL) - {CANARIES["userinfo"], CANARIES["smtp_password"], CANARIES["webhook_path"]}
    assert expected <= leaked, sorted(expected - leaked)


@pytest.mark.parametrize("semconv", ["", "http"])
def test_no_canary_reaches_any_peer(tmp_path, semconv):
    captured, posthog, agent, inbox, api = _run_corpus(tmp_path, semconv)
    assert _leaks(captured) == []

    # Redaction happened where it should, keys kept and marked, with each destination's marker.
    everything = b"\n".join(data for _, data in captured)
    assert b"api_key=REDACTED" in everything and b"password=REDACTED" in everything
    assert b"tl.redacted" in everything
    commands = [c for m in agent.messages for c in m.get("BatchCommand", {}).get("commands", [m])]
    paths = [c["TagRequest"]["value"] for c in commands if "TagRequest" in c and c["TagRequest"]["tag"] == "path"]
    quoted = [unquote(p) for p in paths if "quote" in p]  # Scout's agent url-encodes the query, as we do
    assert quoted and all("password=[FILTERED]" in p and "REDACTED" not in p for p in quoted), paths
    spans = [r for r in api.records() if r.get("type") == "span" and r.get("span.kind") == "server"
             and "quote" in r.get("message", "")]
    assert spans and all("tl.redacted" in r for r in spans)
    assert "color=blue" in json.dumps(spans)  # what is not sensitive stays
    message = email.message_from_bytes(inbox.raw[0], policy=email.policy.default)
    assert str(message["Subject"]).startswith("[FIRING]")
    exceptions = [e["properties"]["$exception_list"][0]["value"] for e in posthog.named("$exception")]
    # The useful part of a message stays: only the secrets in it are replaced.
    assert any("https://REDACTED:REDACTED@legacy.tl-engine.test/export?token=REDACTED" in v for v in exceptions), \
        exceptions
