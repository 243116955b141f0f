"""``tl-otel doctor`` against the local peers: all healthy → exit 0 and no data created; each destination
broken in turn (connection refused, credentials refused, hung) → exit 1 with a line that names the
destination and the cause; secrets never printed; ``--send`` delivers a probe; ``--json`` for machines;
advice for a server command line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib.metadata import version

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

from examples.peers.fake_core_agent import FakeCoreAgent
from examples.peers.hanging import HangingServer
from examples.peers.posthog_capture import Answer, PostHogCapture
from examples.peers.webhook import WebhookReceiver
from examples.processes import BIN, free_port
from tests.conftest import REPO, clean_env, run_python

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
    # What is sent where, said before the sending (and before the report that follows it).
    said, _, after = done.stdout.partition("--send: sending now, once each:")
    plan = after.split("\n\n", 1)[0]
    assert said == "" and "destinations" not in plan, done.stdout
    assert f"PostHog at {env['POSTHOG_HOST']}: an `api_request` event for GET /tl-otel-doctor-probe" in plan
    assert "Scout's core agent at" in plan and "`Controller/GET /tl-otel-doctor-probe`" in plan
    assert "Slack (TL_OTEL_ALERT_SLACK_WEBHOOK_URL): a message '[TEST] tl-otel doctor probe from" in plan
    assert "email through 127.0.0.1:" in plan and "JSON lines (stdout): a WARNING log record" in plan


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
    assert "run `opentelemetry-instrument celery -A app worker --pool=prefork --max-tasks-per-child=1`" in advice
    assert_no_secret(done)


# -- advice: each item with the command (or environment) that triggers it ----------------------------------

def report_for(*command: str, **env: str) -> dict:
    done = doctor({"OTEL_SERVICE_NAME": "doctor-test", **env}, "--json", *(("--", *command) if command else ()))
    assert done.stdout, done.stderr
    return json.loads(done.stdout)


def startup_line(**env: str) -> dict:
    ran = run_python("pass", launcher=True, **env)
    [line] = [line for line in ran.stderr.splitlines() if "tl-otel configured" in line]
    return json.loads(line)


def test_doctor_applies_exactly_the_instrumentations_the_start_up_line_reports():
    report = report_for()
    statuses = {item["name"]: item for item in report["instrumentations"]}
    assert statuses["httpx2"]["status"] == "skip"  # its distribution (httpx's) is installed, httpx2 is not
    assert statuses["httpx2"]["reason"] == "package missing: httpx2>=2.0.0"
    applied = {name for name, item in statuses.items() if item["status"] == "apply"}
    assert applied == set(startup_line(OTEL_SERVICE_NAME="doctor-test")["instrumentations"])


def test_a_command_that_does_not_say_what_it_starts_gets_what_to_check():
    advice = report_for("opentelemetry-instrument", "python", "manage.py", "runserver")["server_model"]
    text = " ".join(advice)
    assert "`python manage.py runserver` does not say what it starts" in text
    assert "tl-otel doctor -- uvicorn module:app --reload" in text and "tl-otel doctor -- celery -A module" in text
    assert "one `tl-otel configured` line per process that serves" in text
    assert "no specific advice" not in text


@pytest.mark.parametrize("command", [["celery", "-A", "app", "beat"], ["celery", "-A", "app", "flower"],
                                     ["celery", "flower", "--port=5555"]])
def test_celery_beat_and_flower_are_not_described_as_prefork_workers(command):
    advice = " ".join(report_for("opentelemetry-instrument", *command)["server_model"])
    assert "prefork" not in advice and "worker_process_shutdown" not in advice
    assert f"celery {command[-1] if command[1] == '-A' else command[1]}: not a worker" in advice


def test_uvicorn_exit_status_advice_follows_the_installed_uvicorn(tmp_path):
    from importlib.metadata import version

    advice = report_for("opentelemetry-instrument", "uvicorn", "app:app")["server_model"]
    assert any(f"uvicorn {version('uvicorn')} re-raises SIGTERM" in line and "143" in line for line in advice)
    # uvicorn before 0.29 (encode/uvicorn#1600) returns normally after SIGTERM: the process exits 0.
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target",
                    str(tmp_path / "old"), "uvicorn==0.25.0"], check=True, capture_output=True, timeout=300)
    advice = report_for("opentelemetry-instrument", "uvicorn", "app:app",
                        PYTHONPATH=f"{tmp_path / 'old'}:{REPO}")["server_model"]
    assert any("uvicorn 0.25.0 returns normally" in line and "status 0" in line for line in advice), advice
    assert not any("143" in line for line in advice)


def test_a_command_without_the_launcher_is_shown_with_the_launcher_in_front():
    advice = report_for("gunicorn", "-w", "2", "app:app")["server_model"]
    assert "run `opentelemetry-instrument gunicorn -w 2 app:app`" in advice[0]
    assert not any("not under the launcher" in line
                   for line in report_for("opentelemetry-instrument", "gunicorn", "app:app")["server_model"])


@pytest.mark.parametrize(("command", "env", "expected"), [
    (["gunicorn", "app:app"], {}, None),  # gunicorn's default 30 s > tl-otel's 10 s
    (["gunicorn", "--graceful-timeout", "5", "app:app"], {}, "graceful timeout is 5 s"),
    (["gunicorn", "app:app"], {"TL_OTEL_SHUTDOWN_TIMEOUT": "60"}, "graceful timeout is 30 s"),
    (["gunicorn", "app:app"], {"GUNICORN_CMD_ARGS": "--graceful-timeout=8"}, "graceful timeout is 8 s"),
    (["gunicorn", "-c", "CONFIG", "app:app"], {}, "graceful timeout is 4 s"),
])
def test_gunicorn_graceful_timeout_advice_only_below_the_shutdown_timeout(tmp_path, command, env, expected):
    config = tmp_path / "gunicorn_conf.py"
    config.write_text("graceful_timeout = 4\n")
    command = [str(config) if part == "CONFIG" else part for part in command]
    advice = [line for line in report_for("opentelemetry-instrument", *command, **env)["server_model"]
              if "graceful" in line]
    if expected is None:
        assert advice == []
    else:
        [line] = advice
        assert expected in line and "TL_OTEL_SHUTDOWN_TIMEOUT" in line


def test_advice_on_unset_service_and_scout_names_and_uninstrumented_libraries(tmp_path):
    advice = " ".join(report_for()["advice"])
    assert "OTEL_SERVICE_NAME" not in advice and "SCOUT_NAME" not in advice
    unnamed = " ".join(report_for(OTEL_SERVICE_NAME="", SCOUT_KEY=SCOUT_KEY)["advice"])
    assert "OTEL_SERVICE_NAME is not set: telemetry carries service.name=unknown_service:python unless" in unnamed
    assert "SCOUT_NAME is not set: Scout shows this application as 'Python App'" in unnamed
    assert "SCOUT_NAME" not in " ".join(report_for(SCOUT_KEY=SCOUT_KEY, SCOUT_NAME="shop")["advice"])
    # A library the application installed (nothing else requires pymemcache) with an instrumentation that is not
    # installed, beside jinja2, which only FastAPI's and Starlette's extras ask for.
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target",
                    str(tmp_path / "libs"), "jinja2", "pymemcache<5"], check=True, capture_output=True, timeout=300)
    advice = report_for(PYTHONPATH=f"{tmp_path / 'libs'}:{REPO}")["advice"]
    [line] = [line for line in advice if "not traced" in line]
    assert line.startswith("pymemcache 4.") and "is installed for the application and not traced" in line, line
    assert "`pip list --format=freeze | pip install -c /dev/stdin opentelemetry-instrumentation-pymemcache`" in line


def test_no_advice_for_libraries_that_came_with_others_or_that_tl_otel_covers_or_turns_off():
    # This environment has click (Celery's, uvicorn's), psutil, urllib3 (requests'), starlette and pydantic
    # (FastAPI's), psycopg (a DB-API driver under SQLAlchemy): none is the application's to instrument.
    advice = " ".join(report_for()["advice"])
    for instrumentation in ("click", "system-metrics", "urllib3", "starlette", "tortoiseorm", "psycopg", "jinja2"):
        assert f"opentelemetry-instrumentation-{instrumentation}" not in advice, advice


def _moved_by(command: str, tmp_path) -> tuple[list[str], str]:
    """What running ``command`` would change among installed distributions (pip's own dry-run report)."""
    from importlib.metadata import PackageNotFoundError

    report = tmp_path / "report.json"
    pip = f"{sys.executable} -m pip"
    done = subprocess.run(command.replace("pip ", pip + " ") + f" --dry-run --quiet --report {report}", shell=True,
                          capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        return [], done.stderr
    moved = []
    for item in json.loads(report.read_text())["install"]:
        name, wanted = item["metadata"]["name"], item["metadata"]["version"]
        try:
            installed = version(name)
        except PackageNotFoundError:
            continue
        if installed != wanted:
            moved.append(f"{name} {installed}->{wanted}")
    return moved, ""


@pytest.mark.parametrize("instrumentation", ["logging", "pymemcache", "click"])
def test_the_advised_command_moves_no_installed_version(tmp_path, instrumentation):
    from tl_otel.doctor.advice import install_command

    # logging has a release on the installed train; pymemcache and click (the ones the issue saw move
    # opentelemetry-api and opentelemetry-instrumentation back) may not: then pip refuses and changes nothing.
    moved, refused = _moved_by(install_command(f"opentelemetry-instrumentation-{instrumentation}"), tmp_path)
    assert moved == []
    assert not refused or "ResolutionImpossible" in refused, refused
    if instrumentation == "logging":
        assert not refused


def test_an_unnamed_service_has_one_name_however_the_interpreter_is_called():
    # The launcher's app ran as `python`, doctor's console script as `python3.11`: the SDK names the service after
    # the interpreter's file name. Both now say unknown_service:python.
    versioned = BIN / f"python{sys.version_info.major}.{sys.version_info.minor}"
    done = subprocess.run([str(versioned), "-m", "tl_otel.cli", "doctor", "--timeout", "2"], env=clean_env(),
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    assert "service.name=unknown_service:python unless" in done.stdout, done.stdout
    ran = subprocess.run([str(BIN / "opentelemetry-instrument"), str(versioned), "-c", "pass"], env=clean_env(),
                         cwd=REPO, capture_output=True, text=True, timeout=120)
    [line] = [line for line in ran.stderr.splitlines() if "tl-otel configured" in line]
    assert json.loads(line)["service.name"] == "unknown_service:python"


def test_destinations_use_the_start_up_line_names():
    env = {"POSTHOG_API_KEY": POSTHOG_KEY, "POSTHOG_HOST": "http://127.0.0.1:9", "OTEL_SERVICE_NAME": "doctor-test"}
    report = report_for(**env)
    assert report["exporters"]["logs"] == ["json", "posthog-companion"]
    assert report["exporters"] == startup_line(**env)["destinations"]


def test_a_reader_that_goes_away_ends_doctor_quietly():
    # `tl-otel doctor | grep -q ...` closes the pipe at the first match; the read end is closed here before doctor
    # writes anything, so every write meets a closed pipe.
    read, write = os.pipe()
    os.close(read)
    done = subprocess.run([sys.executable, "-m", "tl_otel.cli", "doctor", "--", "gunicorn", "app:app"],
                          env=clean_env(), cwd=REPO, stdout=write, stderr=subprocess.PIPE, text=True, timeout=120)
    os.close(write)
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    assert done.returncode == 141
