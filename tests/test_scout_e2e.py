"""The example engine under ``opentelemetry-instrument`` with SCOUT_KEY set, talking to a fake core agent:
API requests become ``Controller/...`` requests with ``SQL/Query`` children, worker tasks ``Job/...``
requests with ``SQL/Query`` and ``HTTP/GET`` children; the agent can come and go."""

from __future__ import annotations

import pytest

from examples.peers.fake_core_agent import FakeCoreAgent, summarise
from examples.processes import (
    base_env,
    free_port,
    request,
    start_api,
    start_worker,
    wait_execution,
    wait_http,
    wait_worker_ready,
)

pytestmark = pytest.mark.e2e


def operations(tree: list) -> set[str]:
    found = set()
    for operation, _, children in tree:
        found.add(operation)
        found |= operations(children)
    return found


def test_example_engine_requests_and_jobs_reach_scout(tmp_path):
    socket_path = str(tmp_path / "core-agent.sock")
    agent = FakeCoreAgent(socket_path)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = base_env(tmp_path / "data", ENGINE_API_URL=url, SCOUT_KEY="abcdefghij0123456789", SCOUT_NAME="tl-engine",
                   SCOUT_CORE_AGENT_SOCKET_PATH=socket_path, SCOUT_CORE_AGENT_LAUNCH="false")
    api, worker = start_api(env, port, tmp_path / "logs"), start_worker(env, tmp_path / "logs")
    try:
        wait_http(f"{url}/health", process=api)
        wait_worker_ready(worker)
        for engine in ("engine-123", "engine-broken"):
            _, execution = request("POST", f"{url}/executions", {"engine_id": engine, "input": {}})
            wait_execution(url, execution["id"])
    finally:
        api.stop()
        worker.stop()
        agent.stop()
    requests = [summarise(commands) for commands in agent.requests()]
    roots = {request["tree"][0][0] for request in requests}
    assert "Controller/examples.engine.api.submit_execution" in roots
    assert "Controller/examples.engine.api.get_engine" in roots and "Controller/examples.engine.api.health" in roots

    submit = next(r for r in requests if r["tree"][0][0] == "Controller/examples.engine.api.submit_execution")
    assert "SQL/Query" in operations(submit["tree"]) and submit["tags"]["path"] == "/executions"
    assert submit["tags"]["user_ip"] == "127.0.0.1" and "error" not in submit["tags"]

    jobs = [r for r in requests if r["tree"][0][0] == "Job/tl_engine.execute"]
    assert len(jobs) == 2
    assert sorted("error" in job["tags"] for job in jobs) == [False, True]
    for job in jobs:
        assert {"SQL/Query", "HTTP/GET", "Custom/engine.run"} <= operations(job["tree"])
        assert job["tags"]["queue"] == "engine" and len(job["tags"]["task_id"]) == 36
    for sent in requests:  # Memory Bloat: every request and job, in the API and in the prefork children
        assert isinstance(sent["tags"]["mem_delta"], float) and sent["tags"]["mem_delta"] >= 0
    registers = agent.named("Register")
    assert {r["app"] for r in registers} == {"tl-engine"} and len(registers) >= 2  # API and worker child(ren)
    assert not [r for r in requests if r["tree"][0][0].startswith("Controller/") and "http send" in repr(r)]


def test_without_an_agent_the_app_runs_and_exits_promptly(python, tmp_path):
    import time

    started = time.monotonic()
    ran = python("""
        import tl_otel
        from opentelemetry import trace
        tl_otel.configure(service_name="svc")
        with trace.get_tracer("t").start_as_current_span("GET /x", kind=trace.SpanKind.SERVER,
                                                         attributes={"http.route": "/x"}):
            pass
        print("done")
    """, SCOUT_KEY="abcdefghij0123456789", SCOUT_CORE_AGENT_SOCKET_PATH=str(tmp_path / "absent.sock"),
        SCOUT_CORE_AGENT_LAUNCH="false")
    elapsed = time.monotonic() - started
    assert ran.returncode == 0 and "done" in ran.stdout
    assert elapsed < 8, elapsed  # not the whole 10 s shutdown budget spent waiting for an absent agent
    assert ran.stderr.count("Scout core agent not reachable") == 1
    assert [r["message"] for r in ran.json_lines()] == ["GET /x"]  # the JSON destination is unaffected
