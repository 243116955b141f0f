"""Celery's gevent and eventlet pools on a real Redis broker, under tl-otel's launcher and with
``tl_otel.configure()``: every task runs, each is one trace and one ``worker_task``, and failing tasks fire the
error-rate alert. The launcher monkey patches first (tl_otel/startup/green_pools.py); without that the worker
ran 14 of 50 tasks with gevent."""

from __future__ import annotations

import uuid

import pytest

from examples.peers.posthog_capture import PostHogCapture
from examples.peers.waiting import wait_for
from examples.peers.webhook import WebhookReceiver
from examples.processes import BIN, base_env, start, wait_worker_ready
from tl_otel.startup.green_pools import celery_green_pool

pytestmark = pytest.mark.e2e

TASKS, FAILURES = 50, 12


def _send(queue: str) -> None:
    from celery import Celery

    client = Celery("sender", broker="redis://127.0.0.1:6379/0")
    for number in range(TASKS):
        client.send_task("green_pool.io_bound", args=[number], queue=queue)
    for number in range(FAILURES):
        client.send_task("green_pool.fails", args=[number], queue=queue)
    client.close()


def _drop_queue(queue: str) -> None:
    import redis

    client = redis.Redis(host="127.0.0.1", port=6379, db=0)
    client.delete(queue, f"_kombu.binding.{queue}", f"_kombu.binding_permanent.{queue}")
    client.close()


@pytest.mark.parametrize("pool", ["gevent", "eventlet"])
@pytest.mark.parametrize("launcher", [True, False], ids=["launcher", "configure"])
def test_green_pool_runs_every_task_with_one_trace_each_and_alerts(tmp_path, pool, launcher):
    pytest.importorskip(pool)
    queue = f"green-{pool}-{uuid.uuid4().hex}"
    capture, webhook = PostHogCapture(), WebhookReceiver()
    env = base_env(tmp_path / "data", OTEL_SERVICE_NAME=f"green-{pool}", POSTHOG_API_KEY="phc_green_key",
                   POSTHOG_HOST=capture.url, OTEL_METRICS_EXPORTER="none", GREEN_QUEUE=queue,
                   GREEN_CONFIGURE="0" if launcher else "1", TL_OTEL_ALERT_STORE="process",
                   TL_OTEL_ALERT_WINDOW_S="60", TL_OTEL_ALERT_MIN_REQUESTS="10", TL_OTEL_ALERT_FOR_S="0",
                   TL_OTEL_ALERT_EVAL_INTERVAL_S="0.3", TL_OTEL_ALERT_SLACK_WEBHOOK_URL=webhook.url,
                   TL_OTEL_ALERT_DISK_MIN_FREE="1b")
    worker = start("worker", [str(BIN / "celery"), "-A", "tests.apps.green_pool:celery_app", "worker",
                              "--loglevel=INFO", "--without-heartbeat", "--without-gossip", "--without-mingle",
                              "-Q", queue, "-P", pool, "-c", "20"], env, tmp_path / "logs", instrument=launcher)
    try:
        wait_worker_ready(worker, 90)
        _send(queue)
        done = wait_for(lambda: len(capture.named("worker_task")) >= TASKS + FAILURES, 120)
        fired = wait_for(lambda: any(text.startswith("*[FIRING] error rate") for text in webhook.texts), 60)
    finally:
        returncode = worker.stop()
        capture.stop()
        webhook.stop()
        _drop_queue(queue)
    events = capture.named("worker_task")
    assert done, (len(events), worker.stderr()[-3000:])
    statuses = sorted(event["properties"]["status"] for event in events)
    assert statuses == ["failure"] * FAILURES + ["success"] * TASKS
    runs = [record for record in worker.records()
            if record.get("type") == "span" and str(record.get("message", "")).startswith("run/")]
    assert len(runs) == TASKS + FAILURES
    assert len({record["trace_id"] for record in runs}) == TASKS + FAILURES  # one trace per task
    assert fired, webhook.texts
    # What a worker patched too late says: gevent's fork hooks and threading lose track of threads, kombu
    # cannot ack.
    for symptom in ("Exception ignored", "CRITICAL", "MaxConnectionsError", "MonkeyPatchWarning"):
        assert symptom not in worker.stderr(), worker.stderr()[-3000:]
    assert returncode in (0, -15, 143), worker.stderr()[-3000:]


@pytest.mark.parametrize(("argv", "pool"), [
    (["/venv/bin/python3", "/venv/bin/celery", "-A", "app", "worker", "-P", "gevent"], "gevent"),
    (["python", "-m", "celery", "-A", "app", "worker", "--pool=eventlet"], "eventlet"),
    (["python", "/venv/bin/celery", "-A", "app", "worker", "--pool", "gevent", "-c", "100"], "gevent"),
    (["python", "/venv/bin/celery", "multi", "start", "w1", "-P", "gevent"], None),
    (["python", "/venv/bin/celery", "-A", "app", "worker", "-P", "threads"], None),
    (["python", "/venv/bin/celery", "-A", "app", "worker"], None),
    (["python", "/venv/bin/uvicorn", "app:app", "-P", "gevent"], None),
])
def test_the_green_pool_is_read_from_the_command_line_as_celery_reads_it(argv, pool):
    assert celery_green_pool(argv) == pool
