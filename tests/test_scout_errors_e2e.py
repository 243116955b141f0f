"""Scout Error Monitoring end to end: the same Celery failures sent by scout_apm's own integration and by
tl-otel (prefork and solo workers on a filesystem broker), compared problem for problem at a local errors
stand-in; FastAPI sync and async routes under uvicorn; one problem per failure, none for a retry; a hung
errors host slows nothing else."""

from __future__ import annotations

import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from examples.peers.fake_core_agent import FakeCoreAgent, summarise
from examples.peers.posthog_capture import Answer
from examples.peers.scout_errors_service import ScoutErrorsService
from examples.peers.waiting import wait_for
from examples.processes import BIN, base_env, filesystem_sender, free_port, start, wait_http, wait_worker_ready

pytestmark = pytest.mark.e2e

APP = "tests.apps.scout_errors_app"
TASKS = ("scout_errors.charge", "scout_errors.always_fails", "scout_errors.succeeds_third_time")
KEY = "scout-errors-key-0123456789"


def _send(folder: Path, *calls: tuple[str, list[Any]]) -> None:
    client = filesystem_sender(folder)
    for name, args in calls:
        client.send_task(name, args=args, queue="scout-errors")


def _run_worker(tmp_path: Path, label: str, pool: str, via_scout_apm: bool) -> tuple[ScoutErrorsService, list]:
    """Run the failing tasks on one worker; the problems that arrived and the core agent's requests."""
    service = ScoutErrorsService()
    agent = FakeCoreAgent(str(tmp_path / f"{label}-agent.sock"))
    folder = tmp_path / f"{label}-broker"
    env = base_env(tmp_path / f"{label}-data", OTEL_SERVICE_NAME="scout-errors-worker", SCOUT_KEY=KEY,
                   SCOUT_NAME="errors-app", SCOUT_MONITOR="true", SCOUT_ERRORS_HOST=service.url,
                   SCOUT_CORE_AGENT_SOCKET_PATH=agent.address, SCOUT_CORE_AGENT_LAUNCH="false",
                   SCOUT_REVISION_SHA="abc123", OTEL_METRICS_EXPORTER="none", SCOUT_ERRORS_BROKER_DIR=str(folder))
    if via_scout_apm:
        env["SCOUT_ERRORS_VIA"] = "scout_apm"
    extra = ["--concurrency=1"] if pool == "prefork" else []
    worker = start(label, [str(BIN / "celery"), "-A", f"{APP}:celery_app", "worker", "--loglevel=INFO",
                           "--without-heartbeat", "--without-gossip", "--without-mingle", "-Q", "scout-errors",
                           f"--pool={pool}", *extra], env, tmp_path / "logs", instrument=not via_scout_apm)
    try:
        wait_worker_ready(worker, 90)
        _send(folder, ("scout_errors.charge", ["A-1"]), ("scout_errors.always_fails", []),
              ("scout_errors.succeeds_third_time", []), ("scout_errors.charge", ["A-2"]))
        # 3 failures; the 4 retried attempts are not failures. The core agent's 8 Job requests (one per attempt:
        # 1 + 3 + 3 + 1) show that every attempt ran before the problems are counted.
        assert wait_for(lambda: len(service.problems()) >= 3 and len(agent.requests()) >= 8, 120), (
            service.problems(), len(agent.requests()), worker.stderr()[-3000:])
    finally:
        worker.stop()
        agent.stop()
        service.stop()
    return service, [_summary(commands) for commands in agent.requests()]


def _summary(commands: list[dict[str, Any]]) -> dict[str, Any]:
    return {"request_id": commands[0]["StartRequest"]["request_id"], **summarise(commands)}


def _comparable(problem: dict[str, Any]) -> dict[str, Any]:
    """A problem without what differs from run to run (ids)."""
    kept = {key: value for key, value in problem.items() if key not in ("request_id", "context")}
    kept["context_keys"] = sorted(problem["context"])
    return kept


@pytest.fixture(scope="module")
def scout_apm_run(tmp_path_factory) -> tuple[ScoutErrorsService, list]:
    return _run_worker(tmp_path_factory.mktemp("scout-apm"), "scout-apm", "solo", via_scout_apm=True)


@pytest.mark.parametrize("pool", ["prefork", "solo"])
def test_celery_failures_match_scout_apm_problem_for_problem(tmp_path, pool, scout_apm_run):
    theirs_service, _ = scout_apm_run
    ours_service, requests = _run_worker(tmp_path, f"tl-otel-{pool}", pool, via_scout_apm=False)
    theirs, ours = theirs_service.problems(), ours_service.problems()
    assert len(theirs) == 3 and len(ours) == 3, (theirs, ours)  # one per failure, none for the 4 retries

    def by_message(problems: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
        return {problem["message"]: problem for problem in problems}

    assert set(by_message(ours)) == {"order A-1 declined", "order A-2 declined", "still down"}
    for message, problem in by_message(theirs).items():
        mine = by_message(ours)[message]
        assert mine["exception_class"] == problem["exception_class"]
        assert mine["request_components"] == problem["request_components"]
        assert mine["trace"] == problem["trace"], (mine["trace"], problem["trace"])
        for field in ("request_uri", "request_params", "request_session", "environment", "host", "revision_sha"):
            assert mine[field] == problem[field], field
        assert mine["context"]["transaction_id"] == mine["request_id"]
        assert mine["context"]["custom_params"]["celery"]["task_id"] == problem["context"]["custom_params"][
            "celery"]["task_id"] or len(mine["context"]["custom_params"]["celery"]["task_id"]) == 36
        assert {"task_id", "queue", "error", "transaction_id", "custom_params"} <= set(mine["context"])
        assert set(problem) == set(mine)  # the same fields

    # The request id is the Scout request of the failed run: the Errors page links to that trace.
    failed_jobs = {r["request_id"] for r in requests if r["tags"].get("error") == "true"}
    assert {problem["request_id"] for problem in ours} <= failed_jobs

    # The envelope and the request as scout_apm's thread makes them.
    for service in (theirs_service, ours_service):
        post = service.posts()[0]
        assert post["path"] == "/apps/error.scout"
        assert post["query"] == {"key": [KEY], "name": ["errors-app"]}
        assert post["headers"]["Content-Encoding"] == "gzip" and post["headers"]["X-Error-Count"] == str(
            len(post["body"]["problems"]))
        assert post["body"]["notifier"] == "scout_apm_python" and "root" in post["body"]


def _get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def _start_api(tmp_path: Path, service: ScoutErrorsService, agent: FakeCoreAgent):
    port = free_port()
    env = base_env(tmp_path / "data", OTEL_SERVICE_NAME="scout-errors-api", SCOUT_KEY=KEY, SCOUT_NAME="errors-app",
                   SCOUT_MONITOR="true", SCOUT_ERRORS_HOST=service.url, SCOUT_CORE_AGENT_SOCKET_PATH=agent.address,
                   SCOUT_CORE_AGENT_LAUNCH="false", OTEL_METRICS_EXPORTER="none")
    api = start("api", [str(BIN / "uvicorn"), f"{APP}:app", "--host", "127.0.0.1", "--port", str(port),
                        "--no-access-log"], env, tmp_path / "logs")
    url = f"http://127.0.0.1:{port}"
    wait_http(f"{url}/ok", process=api)
    return api, url


def test_fastapi_sync_and_async_failures_are_one_problem_each(tmp_path):
    service = ScoutErrorsService()
    agent = FakeCoreAgent(str(tmp_path / "agent.sock"))
    api, url = _start_api(tmp_path, service, agent)
    try:
        assert _get(f"{url}/orders/B-7/charge?token=s3cr3t&page=2&api_key=k") == 500
        assert _get(f"{url}/orders/B-8/refund") == 500
        assert _get(f"{url}/ok") == 200
        assert wait_for(lambda: len(service.problems()) >= 2 and len(agent.requests()) >= 4, 60), service.problems()
    finally:
        api.stop()
        agent.stop()
        service.stop()
    problems = {problem["request_uri"]: problem for problem in service.problems()}
    assert len(service.problems()) == 2 and set(problems) == {"/orders/B-7/charge", "/orders/B-8/refund"}
    sync, async_ = problems["/orders/B-7/charge"], problems["/orders/B-8/refund"]
    assert (sync["exception_class"], sync["message"]) == ("PaymentDeclined", "order B-7 declined")
    assert (async_["exception_class"], async_["message"]) == ("KeyError", "'no payment for B-8'")
    assert sync["request_components"] == {"module": APP, "controller": "charge_sync", "action": "GET"}
    assert async_["request_components"] == {"module": APP, "controller": "refund_async", "action": "GET"}
    # scout_apm's filter_element: sensitive names show its marker; no secret leaves the process.
    assert sync["request_params"]["page"] == ["2"] and sync["request_params"]["api_key"] == "[FILTERED]"
    assert "s3cr3t" not in repr(service.posts())
    source = (Path(__file__).parent / "apps" / "scout_errors_app.py").read_text().splitlines()
    raised_at = source.index('    raise PaymentDeclined(f"order {order} declined")') + 1
    assert sync["trace"][0] == f"tests/apps/scout_errors_app.py:{raised_at}:in charge"  # innermost first
    assert sync["trace"][1].startswith("tests/apps/scout_errors_app.py:") and sync["trace"][1].endswith(
        ":in charge_sync")
    sent = {r["request_id"]: r for r in (_summary(c) for c in agent.requests())}
    for problem in (sync, async_):
        assert sent[problem["request_id"]]["tags"]["error"] == "true"
        assert problem["context"]["transaction_id"] == problem["request_id"]
        assert problem["context"]["path"].startswith(problem["request_uri"])


def test_a_hung_errors_host_slows_nothing_else(tmp_path):
    service = ScoutErrorsService()
    service.default = Answer(hang=600)
    agent = FakeCoreAgent(str(tmp_path / "agent.sock"))
    api, url = _start_api(tmp_path, service, agent)
    try:
        assert _get(f"{url}/orders/C-1/charge") == 500
        assert wait_for(lambda: len(service.received) == 0 and service.connections >= 1, 60)
        # The errors post hangs; the requests after it still answer and still reach the core agent.
        for _ in range(3):
            assert _get(f"{url}/ok") == 200
        assert wait_for(lambda: len(agent.requests()) >= 4, 60)
        assert len(service.received) == 0  # still hanging meanwhile
    finally:
        api.stop(timeout=60)
        agent.stop()
        service.stop()
    # The shutdown deadline bounds the hung post, and the problem is accounted for, not counted as delivered.
    assert "traces-scout_errors: 1 not delivered" in api.stderr(), api.stderr()[-3000:]
