"""Parity with Scout's own agent: the same FastAPI app and Celery tasks run once under scout_apm's
native integrations and once under tl-otel, each sending to a fake core agent; the operation names,
span tree shapes and the tags Scout gives meaning to must match (timestamps, ids, mem_delta and
allocation counts aside, which OpenTelemetry does not measure)."""

from __future__ import annotations

import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from examples.peers.fake_core_agent import FakeCoreAgent, summarise
from tests.conftest import REPO, clean_env

pytestmark = pytest.mark.e2e
COMPARED_TAGS = {"path", "user_ip", "error", "scout.queue_time_ns", "task_id", "queue", "db.statement", "url",
                 "mem_delta", "stack", "allocations", "start_allocations", "stop_allocations"}


class Prices(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args) -> None:
        return None


@pytest.fixture(scope="module")
def outbound():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Prices)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def run(mode: str, outbound: str, socket_path: str) -> list[dict]:
    agent = FakeCoreAgent(socket_path)
    # scout_apm always counts allocations (its install() enables _objtrace); tl-otel when asked to.
    env = clean_env(SCOUT_MONITOR="true", SCOUT_KEY="abcdefghij0123456789", SCOUT_NAME="Parity",
                    SCOUT_CORE_AGENT_SOCKET_PATH=socket_path, SCOUT_CORE_AGENT_LAUNCH="false",
                    SCOUT_HOSTNAME="parity-host", SCOUT_ERRORS_ENABLED="", TL_OTEL_SCOUT_ALLOCATIONS="true")
    try:
        done = subprocess.run([sys.executable, "-m", "tests.parity.app", mode, outbound], env=env, cwd=REPO,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr[-3000:]
        assert agent.wait_for(lambda: len(agent.requests()) >= 7, timeout=10), agent.messages
        register = agent.named("Register")[0]
        return [register, *[summarise(commands) for commands in agent.requests()]]
    finally:
        agent.stop()


def _sql(tag: str, value):
    # The one intended difference: tl-otel replaces SQL literals with '?' (the semantic conventions'
    # sanitization, docs/security.md); Scout's agent sends `SELECT ? + 1` as the driver got it.
    from tl_otel.redaction.redactor import Redactor

    return Redactor().scrub_sql(value) if tag == "db.statement" and isinstance(value, str) else value


def _shape(tag: str, value):
    """Measured values by type; a stack by the shape of its frames and whether it holds the endpoint's
    line in the app (scout_apm's stacks also hold library frames, tl-otel's only the application's)."""
    if tag == "mem_delta":
        return type(value).__name__, value >= 0
    if tag in ("allocations", "start_allocations", "stop_allocations"):
        return type(value).__name__
    if tag == "stack":
        frames_ok = all(set(frame) == {"file", "line", "function"} and isinstance(frame["line"], int)
                        for frame in value)
        app_line = any(frame["file"].endswith("tests/parity/app.py") and frame["function"] == "slow"
                       for frame in value)
        return frames_ok, app_line, len(value) <= 50
    return _sql(tag, value)


def comparable(request: dict) -> tuple:
    tags = {key: _shape(key, value) for key, value in request["tags"].items() if key in COMPARED_TAGS}
    if "scout.queue_time_ns" in tags:  # the value depends on when each run started
        tags["scout.queue_time_ns"] = 100_000_000 <= tags["scout.queue_time_ns"] <= 10_000_000_000
    if "task_id" in tags:  # Celery's own random id, different in each run
        tags["task_id"] = len(tags["task_id"]) == 36

    def strip(tree: list, root: bool = False) -> list:
        # scout_apm also puts a stack on a slow request's root span; its frames are its middleware's and
        # the server's (no application line), so tl-otel leaves it out (docs/scout.md).
        left_out = {"stack"} if root else set()
        return sorted(((op, sorted((k, _shape(k, v)) for k, v in span_tags.items()
                                   if k in COMPARED_TAGS - left_out), strip(children))
                       for op, span_tags, children in tree), key=repr)

    return repr(sorted(tags.items())), repr(strip(request["tree"], root=True))


def test_same_requests_names_trees_and_tags_as_scout_s_own_agent(outbound, tmp_path):
    native_register, *native = run("scout", outbound, str(tmp_path / "native.sock"))
    ours_register, *ours = run("otel", outbound, str(tmp_path / "ours.sock"))
    assert ours_register == native_register
    by_root = lambda requests: sorted((request["tree"][0][0], comparable(request)) for request in requests)  # noqa: E731
    native_requests, our_requests = by_root(native), by_root(ours)
    # No request for the URL no route matched (the router's 404); the 405 of a route whose path matched
    # is the endpoint's request, under the endpoint's name, in both.
    assert [name for name, _ in native_requests] == [
        "Controller/__main__.boom", "Controller/__main__.missing", "Controller/__main__.read_item",
        "Controller/__main__.read_item", "Controller/__main__.slow", "Job/parity.add", "Job/parity.crash"]
    slow = dict(native_requests)["Controller/__main__.slow"][1]
    assert slow.count("(True, True, True)") == 2  # the slow query's stack and the N+1 stack
    assert our_requests == native_requests
