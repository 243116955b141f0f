"""Each item exported exactly once, by the process that made it, with that process's pid in its resource -
under the server models people run: gunicorn --preload with Uvicorn workers, uvicorn --workers, and Celery
prefork (one task per child: children leave through os._exit), solo and threads pools. All under
``opentelemetry-instrument``, with JSON lines on stdout and PostHog (a local capture server) as exporters."""

from __future__ import annotations

import collections
import re

import pytest

from examples.peers.posthog_capture import PostHogCapture
from examples.peers.waiting import wait_for
from examples.processes import BIN, base_env, free_port, start, wait_http, wait_worker_ready

pytestmark = pytest.mark.e2e


def _hit(url: str, count: int) -> None:
    import httpx

    for index in range(count):  # a connection per request, so the kernel spreads them over the workers
        assert httpx.get(f"{url}/engines?n={index}").status_code == 200


def _request_spans(records: list[dict]) -> list[dict]:
    return [r for r in records if r.get("type") == "span" and r.get("span.kind") == "server"
            and "/engines?n=" in str(r.get("http.url"))]


def _index(span: dict) -> int:
    return int(re.search(r"n=(\d+)", str(span["http.url"])).group(1))


def _children_of(pid: int) -> set[int]:
    from pathlib import Path

    children = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        text = (task / "children").read_text().split()
        children.update(int(p) for p in text)
    return children


def _check_exactly_once(records: list[dict], capture: PostHogCapture, count: int, server_pid: int) -> set[int]:
    spans = _request_spans(records)
    indexes = collections.Counter(_index(span) for span in spans)
    assert sorted(indexes) == list(range(count)) and set(indexes.values()) == {1}, indexes.most_common(3)
    events = [e for e in capture.named("api_request") if e["properties"].get("route") == "/engines"]
    assert len(events) == count and len({e["uuid"] for e in events}) == count
    pids = {span["process.pid"] for span in spans}
    assert server_pid not in pids  # made, and exported, by the workers
    return pids


def test_gunicorn_preload_with_uvicorn_workers_exports_each_request_once_with_its_worker_pid(tmp_path):
    capture = PostHogCapture()
    port = free_port()
    env = base_env(tmp_path / "data", OTEL_SERVICE_NAME="tl-engine-api", POSTHOG_API_KEY="phc_gunicorn_key",
                   POSTHOG_HOST=capture.url, OTEL_METRICS_EXPORTER="none")
    server = start("gunicorn", [str(BIN / "gunicorn"), "examples.engine.api:app", "--preload", "-w", "4", "-k",
                                "uvicorn.workers.UvicornWorker", "-b", f"127.0.0.1:{port}", "--graceful-timeout",
                                "20"], env, tmp_path / "logs")
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{url}/health", process=server)
        assert wait_for(lambda: len(_children_of(server.popen.pid)) == 4, 30)
        workers = _children_of(server.popen.pid)
        _hit(url, 200)
    finally:
        server.stop()
        capture.stop()
    pids = _check_exactly_once(server.records(), capture, 200, server.popen.pid)
    assert pids <= workers and len(pids) >= 2, (pids, workers)
    assert "not delivered" not in server.stderr()


def test_uvicorn_workers_export_each_request_once_with_their_own_pid(tmp_path):
    capture = PostHogCapture()
    port = free_port()
    env = base_env(tmp_path / "data", OTEL_SERVICE_NAME="tl-engine-api", POSTHOG_API_KEY="phc_uvicorn_key",
                   POSTHOG_HOST=capture.url, OTEL_METRICS_EXPORTER="none")
    server = start("uvicorn", [str(BIN / "uvicorn"), "examples.engine.api:app", "--workers", "2", "--host",
                               "127.0.0.1", "--port", str(port), "--no-access-log"], env, tmp_path / "logs")
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{url}/health", process=server)
        assert wait_for(lambda: len(_children_of(server.popen.pid)) >= 2, 30)
        workers = _children_of(server.popen.pid)
        _hit(url, 100)
    finally:
        server.stop()
        capture.stop()
    pids = _check_exactly_once(server.records(), capture, 100, server.popen.pid)
    assert pids <= workers, (pids, workers)


def _celery_worker(tmp_path, capture: PostHogCapture, *options: str):
    env = base_env(tmp_path / "data", OTEL_SERVICE_NAME="bad-worker", POSTHOG_API_KEY="phc_celery_model_key",
                   POSTHOG_HOST=capture.url, OTEL_METRICS_EXPORTER="none",
                   BAD_INPUT_BROKER_DIR=str(tmp_path / "broker"))
    worker = start("worker", [str(BIN / "celery"), "-A", "tests.apps.bad_input:celery_app", "worker",
                              "--loglevel=INFO", "--without-heartbeat", "--without-gossip", "--without-mingle",
                              "-Q", "bad", *options], env, tmp_path / "logs")
    wait_worker_ready(worker, 60)
    return worker


def _send(tmp_path, count: int) -> None:
    from celery import Celery

    # A client of its own per test: a Celery app caches its broker connection (and this folder) once used.
    folder = str(tmp_path / "broker")
    client = Celery("sender", broker="filesystem://")
    client.conf.broker_transport_options = {
        "data_folder_in": folder, "data_folder_out": folder, "processed_folder": folder, "store_processed": False,
        "control_folder": folder}
    for index in range(count):
        client.send_task("bad_input.fine", args=[index], queue="bad")


def _check_tasks_once(worker, capture: PostHogCapture, count: int) -> list[dict]:
    records = worker.records()
    spans = [r for r in records if r.get("type") == "span" and r.get("message") == "run/bad_input.fine"]
    logs = collections.Counter(r["message"] for r in records if r.get("type") == "log"
                               and str(r.get("message", "")).startswith("fine task "))
    assert len(spans) == count and len({s["span_id"] for s in spans}) == count
    assert sorted(logs) == sorted(f"fine task {i}" for i in range(count)) and set(logs.values()) == {1}
    events = [e for e in capture.named("worker_task") if e["properties"].get("task_name") == "bad_input.fine"]
    assert len(events) == count and len({e["uuid"] for e in events}) == count
    return spans


def _run_tasks(tmp_path, count: int, *options: str):
    capture = PostHogCapture()
    worker = _celery_worker(tmp_path, capture, *options)
    try:
        _send(tmp_path, count)
        assert wait_for(lambda: worker.stdout_path.read_text(errors="replace").count('"fine task ') >= count, 120)
        assert wait_for(lambda: len(capture.named("worker_task")) >= count, 30)
    finally:
        worker.stop()
        capture.stop()
    return worker, _check_tasks_once(worker, capture, count)


def test_celery_prefork_one_task_per_child_exports_every_task_once(tmp_path):
    worker, spans = _run_tasks(tmp_path, 100, "--pool=prefork", "--concurrency=2", "--max-tasks-per-child=1")
    pids = {span["process.pid"] for span in spans}
    # One task per child: every task ran, and was exported, in a process of its own.
    assert len(pids) == 100 and worker.popen.pid not in pids


@pytest.mark.parametrize("pool", ["solo", "threads"])
def test_celery_solo_and_threads_pools_export_every_task_once(tmp_path, pool):
    worker, spans = _run_tasks(tmp_path, 30, f"--pool={pool}", "--concurrency=4")
    assert {span["process.pid"] for span in spans} == {worker.popen.pid}
