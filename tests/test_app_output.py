"""The application's own output is the application's: with its root logger at DEBUG, its stderr under tl-otel
holds exactly the lines it holds without tl-otel. The records libraries make on tl-otel's threads (urllib3's
``"POST /batch/ HTTP/1.1" 200`` under PostHog's client) never reach the application's handlers nor its JSON
lines."""

from __future__ import annotations

import json

import httpx
import pytest

from examples.peers.posthog_capture import PostHogCapture
from examples.peers.waiting import wait_for
from examples.processes import BIN, base_env, free_port, start, wait_http

pytestmark = pytest.mark.e2e

REQUESTS = 5


def _not_tl_otels(line: str) -> bool:
    """tl-otel's own lines (its start-up line, its warnings) are JSON objects from a ``tl_otel`` logger."""
    if not line.startswith("{"):
        return True
    try:
        return not str(json.loads(line).get("logger", "")).startswith("tl_otel")
    except ValueError:
        return True


def _serve(tmp_path, instrument: bool, capture: PostHogCapture | None) -> tuple[list[str], list[dict]]:
    port = free_port()
    extra = {"OTEL_SERVICE_NAME": "own-output", "OTEL_METRICS_EXPORTER": "none"}
    if capture is not None:
        extra.update(POSTHOG_API_KEY="phc_own_output", POSTHOG_HOST=capture.url)
    env = base_env(tmp_path / ("with" if instrument else "without"), **extra)
    args = [str(BIN / "uvicorn"), "tests.apps.own_output:app", "--port", str(port), "--no-access-log",
            "--log-level", "warning"]
    process = start("with" if instrument else "without", args, env, tmp_path / "logs", instrument=instrument)
    try:
        wait_http(f"http://127.0.0.1:{port}/orders/0", 60, process)
        for number in range(1, REQUESTS + 1):
            assert httpx.get(f"http://127.0.0.1:{port}/orders/{number}").status_code == 200
        if capture is not None:  # PostHog's client has made its requests on tl-otel's thread
            assert wait_for(lambda: len(capture.named("api_request")) >= REQUESTS + 1, 60)
    finally:
        process.stop()
    return [line for line in process.stderr().splitlines() if _not_tl_otels(line)], process.records()


def test_a_debug_root_handler_prints_the_same_lines_with_and_without_tl_otel(tmp_path):
    without, _ = _serve(tmp_path, instrument=False, capture=None)
    capture = PostHogCapture()
    try:
        with_tl_otel, records = _serve(tmp_path, instrument=True, capture=capture)
    finally:
        capture.stop()
    assert [line for line in without if "order" in line] == [f"APP INFO shop.orders order {n} served"
                                                             for n in range(REQUESTS + 1)]
    assert with_tl_otel == without
    # Nor do tl-otel's own HTTP requests become the application's JSON lines.
    assert [r["message"] for r in records if r.get("type") == "log"] == [f"order {n} served"
                                                                        for n in range(REQUESTS + 1)]


def test_a_debug_worker_prints_celerys_debug_lines_but_not_the_instrumentations(tmp_path):
    """A worker at ``--loglevel=DEBUG`` prints Celery's own DEBUG lines as without tl-otel, and none of the
    Celery instrumentation's "prerun signal" / "postrun signal" lines (two per task) that tl-otel brings."""
    from tests.test_task_logger import _send

    folder = str(tmp_path / "broker")
    env = base_env(tmp_path / "data", OTEL_SERVICE_NAME="debug-worker", OTEL_METRICS_EXPORTER="none",
                   TASK_ERRORS_BROKER_DIR=folder, TL_OTEL_ALERT_STORE="process")
    worker = start("worker", [str(BIN / "celery"), "-A", "tests.apps.task_errors:celery_app", "worker",
                              "--loglevel=DEBUG", "--without-heartbeat", "--without-gossip", "--without-mingle",
                              "-Q", "task-errors", "--pool=solo"], env, tmp_path / "logs")
    try:
        assert wait_for(lambda: " ready." in worker.stderr() or worker.popen.poll() is not None, 90)
        for number in range(3):
            _send(folder, "task_errors.report", number)
        assert wait_for(lambda: "report 2 priced" in worker.stderr(), 90), worker.stderr()[-3000:]
    finally:
        worker.stop()
    stderr = worker.stderr()
    assert "DEBUG/MainProcess" in stderr  # Celery's own DEBUG lines: the application asked for them
    assert "prerun signal" not in stderr and "postrun signal" not in stderr


OWN_THREAD_APP = """
import json, logging, sys, threading
import tl_otel
tl_otel.configure(service_name="own-threads")
logging.basicConfig(level=logging.DEBUG, format="APP %(levelname)s %(name)s %(message)s", stream=sys.stderr)

def library_chatter():
    pool = logging.getLogger("urllib3.connectionpool")
    pool.debug("Starting new HTTP connection (1): collector:443")
    pool.warning("Retrying after connection broken by 'RemoteDisconnected'")

thread = threading.Thread(target=library_chatter, name="tl-otel-export-example")
thread.start(); thread.join()
logging.getLogger("urllib3.connectionpool").info("the application's own request")
tl_otel.force_flush(10)
"""


def test_a_librarys_records_on_tl_otels_thread_reach_tl_otels_own_stderr_from_warning_up(python):
    ran = python(OWN_THREAD_APP, OTEL_TRACES_EXPORTER="json", OTEL_LOGS_EXPORTER="json",
                 OTEL_METRICS_EXPORTER="none")
    assert ran.returncode == 0, ran.stderr
    app_lines = [line for line in ran.stderr.splitlines() if line.startswith("APP ")]
    assert app_lines == ["APP INFO urllib3.connectionpool the application's own request"]
    own = [json.loads(line) for line in ran.stderr.splitlines() if line.startswith("{")]
    assert [(line["level"], line["logger"], line["message"]) for line in own
            if line["logger"] == "urllib3.connectionpool"] == [
        ("WARNING", "urllib3.connectionpool", "Retrying after connection broken by 'RemoteDisconnected'")]
    messages = [record["message"] for record in ran.json_lines() if record.get("type") == "log"]
    assert messages == ["the application's own request"]
