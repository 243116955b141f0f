"""The bad-input corpus through a real FastAPI app (uvicorn) and a real Celery prefork worker, both under
``opentelemetry-instrument`` with JSON, PostHog and Scout on: circular, 100,000-deep, 5 MB, non-UTF-8,
NaN, unprintable and broken-mapping values through ``logging``, ``span.set_attribute(s)``, ``add_event``,
``record_exception`` and Celery task arguments. Nothing reaches the application, an exception whose
``__str__`` raises stays the application's own exception, and every exporter still delivers the good
items around the bad ones."""

from __future__ import annotations

import json

import pytest

from examples.peers.fake_core_agent import FakeCoreAgent, summarise
from examples.peers.posthog_capture import PostHogCapture
from examples.peers.waiting import wait_for
from examples.processes import BIN, base_env, filesystem_sender, free_port, start, wait_http, wait_worker_ready

pytestmark = pytest.mark.e2e


def _all_lines_are_json(path) -> list[dict]:
    records = []
    for line in path.read_bytes().splitlines():
        if line.startswith(b"{"):  # Celery prints its banner on stdout too
            records.append(json.loads(line.decode("utf-8")))  # raises on any broken line
    return records


def test_bad_input_never_reaches_the_application_and_costs_only_itself(tmp_path):
    import httpx

    posthog = PostHogCapture()
    agent = FakeCoreAgent(str(tmp_path / "core-agent.sock"))
    env = base_env(tmp_path / "data", POSTHOG_API_KEY="phc_testkey_bad_input", POSTHOG_HOST=posthog.url,
                   TL_OTEL_POSTHOG_FLUSH_INTERVAL="0.2", OTEL_LOGS_EXPORTER="json,posthog", SCOUT_KEY="bad-input-key",
                   SCOUT_NAME="bad-input", SCOUT_CORE_AGENT_SOCKET_PATH=str(agent.address),
                   SCOUT_CORE_AGENT_LAUNCH="false", BAD_INPUT_BROKER_DIR=str(tmp_path / "broker"))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    api = start("api", [str(BIN / "uvicorn"), "tests.apps.bad_input:app", "--host", "127.0.0.1", "--port", str(port),
                        "--no-access-log"], {**env, "OTEL_SERVICE_NAME": "bad-api"}, tmp_path / "logs")
    worker = start("worker", [str(BIN / "celery"), "-A", "tests.apps.bad_input:celery_app", "worker", "--pool=prefork",
                              "--concurrency=1", "--loglevel=INFO", "--without-heartbeat", "--without-gossip",
                              "--without-mingle", "-Q", "bad"], {**env, "OTEL_SERVICE_NAME": "bad-worker"},
                   tmp_path / "logs")
    try:
        wait_http(f"{url}/fine", process=api)
        wait_worker_ready(worker)
        assert httpx.get(f"{url}/fine").json() == {"status": "fine"}
        assert httpx.get(f"{url}/corpus", timeout=60).json() == {"status": "survived"}
        assert httpx.get(f"{url}/broken-exception").status_code == 500
        assert httpx.get(f"{url}/fine").json() == {"status": "fine"}

        client = filesystem_sender(tmp_path / "broker")
        nested: list = []
        for _ in range(200):
            nested = [nested]
        client.send_task("bad_input.fine", args=[1], queue="bad")
        client.send_task("bad_input.corpus", args=["a\ud800b", float("nan"), float("-inf"), "y" * 1_000_000, nested],
                         queue="bad")
        client.send_task("bad_input.broken", queue="bad")
        client.send_task("bad_input.fine", args=[2], queue="bad")
        assert wait_for(lambda: "fine task 2" in worker.stdout_path.read_text(errors="replace"), 60)
        assert wait_for(lambda: len(posthog.named("api_request")) >= 4
                        and len(posthog.named("worker_task")) >= 4, 30), [e["event"] for e in posthog.events()]
    finally:
        api.stop()
        worker.stop()
        posthog.stop()
        agent.stop()

    api_lines, worker_lines = _all_lines_are_json(api.stdout_path), _all_lines_are_json(worker.stdout_path)
    api_messages = [r.get("message") for r in api_lines]
    worker_messages = [r.get("message") for r in worker_lines]
    # the good items around the bad ones, on stdout (/fine: the readiness probe and two requests)
    assert api_messages.count("fine request") == 3 and "api survived the corpus" in api_messages
    assert {"fine task 1", "fine task 2", "worker survived the corpus", "the task saw its own exception type"} <= set(
        worker_messages)
    # the application's own exception type, as the application raised it
    [broken_span] = [r for r in api_lines if r.get("type") == "span" and r.get("http.route") == "/broken-exception"
                     and r.get("span.kind") == "server"]
    assert broken_span["status"] == "error"
    assert "tests.apps.bad_input.BrokenStrError: <exception str() failed>" in api.stderr()
    assert "RuntimeError: __str__ is broken" not in api.stderr() + worker.stderr()
    assert "raised unexpected: BrokenStrError()" in worker.stderr()
    [task_span] = [r for r in worker_lines if r.get("type") == "span" and r.get("message") == "run/bad_input.broken"]
    assert task_span["status"] == "error"  # the instrumentation's failure handler, guarded, still marked it
    assert "Signal handler" not in worker.stderr()  # and Celery had no handler crash to log
    # bounded values: the 5 MB attribute arrived cut, not whole
    corpus_span = next(r for r in api_lines if r.get("type") == "span" and r.get("http.route") == "/corpus"
                       and r.get("span.kind") == "server")
    assert len(corpus_span["bad.huge"]) < 20_000 and "bad.circular" in corpus_span
    # PostHog and Scout delivered the rest of each batch
    routes = sorted(str(e["properties"].get("route")) for e in posthog.named("api_request"))
    assert routes.count("/fine") == 3 and "/corpus" in routes, routes
    tasks = sorted(e["properties"]["task_name"] for e in posthog.named("worker_task"))
    assert tasks.count("bad_input.fine") == 2 and "bad_input.corpus" in tasks, tasks
    trees = [summarise(commands)["tree"] for commands in agent.requests()]
    operations = {tree[0][0] for tree in trees if tree}
    assert {"Controller/tests.apps.bad_input.fine", "Controller/tests.apps.bad_input.run_corpus",
            "Job/bad_input.fine", "Job/bad_input.corpus"} <= operations, operations
