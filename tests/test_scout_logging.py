"""scout_apm's own logging (``Registering with app=… key_prefix=…`` at INFO on every connection to the core
agent) goes through tl-otel's self-log at WARNING: not into the application's stderr handlers, not into the
JSON lines, at start-up as in doctor's Scout check; scout_apm's warnings still show, as tl-otel's lines do."""

from __future__ import annotations

import json
import subprocess
import sys

from examples.peers.fake_core_agent import FakeCoreAgent
from tests.conftest import REPO, clean_env

SCOUT_KEY = "scout-logging-key-0123"

APP = """
import logging, time, tl_otel
from opentelemetry import trace
logging.basicConfig(level=logging.INFO)  # the application shows INFO on stderr
tl_otel.configure(service_name="svc")
with trace.get_tracer("t").start_as_current_span("GET /x", kind=trace.SpanKind.SERVER,
                                                 attributes={"http.route": "/x", "http.status_code": 200}):
    pass
tl_otel.force_flush(10)
logging.getLogger("scout_apm.core.agent.socket").warning("a scout_apm warning")
"""


def scout_env(agent: FakeCoreAgent) -> dict[str, str]:
    return clean_env(SCOUT_KEY=SCOUT_KEY, SCOUT_CORE_AGENT_SOCKET_PATH=agent.address,
                     SCOUT_CORE_AGENT_LAUNCH="false", SCOUT_NAME="shop")


def test_scout_apm_info_lines_stay_out_of_the_application_output(tmp_path):
    agent = FakeCoreAgent(str(tmp_path / "agent.sock"))
    try:
        done = subprocess.run([sys.executable, "-c", APP], env=scout_env(agent), cwd=REPO, capture_output=True,
                              text=True, timeout=120)
    finally:
        agent.stop()
    assert done.returncode == 0, done.stderr
    assert agent.named("Register"), "the process never registered with the core agent"
    assert "Registering with app" not in done.stderr + done.stdout
    [warning] = [line for line in done.stderr.splitlines() if "a scout_apm warning" in line]
    line = json.loads(warning)  # tl-otel's own line format, not the app's basicConfig "WARNING:name:msg"
    assert line["level"] == "WARNING" and line["type"] == "log" and "process.pid" in line
    assert "a scout_apm warning" not in done.stdout  # not a telemetry record


def test_doctor_scout_check_does_not_print_scout_apm_info_lines(tmp_path):
    agent = FakeCoreAgent(str(tmp_path / "agent.sock"))
    try:
        done = subprocess.run([sys.executable, "-m", "tl_otel.cli", "doctor", "--timeout", "5", "--send"],
                              env={**scout_env(agent), "OTEL_SERVICE_NAME": "svc"}, cwd=REPO,
                              capture_output=True, text=True, timeout=120)
    finally:
        agent.stop()
    assert any(line.split()[:2] == ["ok", "scout"] for line in done.stdout.splitlines()), done.stdout
    assert "traces-scout" in done.stdout  # --send configured tl-otel and sent a probe through Scout too
    assert "Registering with app" not in done.stdout + done.stderr
