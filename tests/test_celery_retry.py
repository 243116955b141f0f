"""A retried Celery task under a real prefork worker: each attempt that asks for a retry is `worker_task` with
status `retry`, the attempt that gives up is `failure`, and a retry is not an error for the error-rate rule."""

from __future__ import annotations

import pytest

from examples.peers.posthog_capture import PostHogCapture
from examples.peers.waiting import wait_for
from examples.processes import BIN, base_env, filesystem_sender, start, wait_worker_ready

pytestmark = pytest.mark.e2e


def _send(folder: str, *names: str) -> None:
    client = filesystem_sender(folder)
    for name in names:
        client.send_task(name, queue="retries")


def test_retries_are_their_own_status_and_the_last_failure_is_a_failure(tmp_path):
    capture = PostHogCapture()
    folder = str(tmp_path / "broker")
    env = base_env(tmp_path / "data", OTEL_SERVICE_NAME="retry-worker", POSTHOG_API_KEY="phc_retry_key",
                   POSTHOG_HOST=capture.url, OTEL_METRICS_EXPORTER="none", RETRIES_BROKER_DIR=folder,
                   TL_OTEL_ALERT_STORE="process")
    worker = start("worker", [str(BIN / "celery"), "-A", "tests.apps.retries:celery_app", "worker",
                              "--loglevel=INFO", "--without-heartbeat", "--without-gossip", "--without-mingle",
                              "-Q", "retries", "--pool=prefork", "--concurrency=1"], env, tmp_path / "logs")
    try:
        wait_worker_ready(worker, 60)
        _send(folder, "retries.succeeds_third_time", "retries.always_fails")
        assert wait_for(lambda: len(capture.named("worker_task")) >= 6, 120), capture.named("worker_task")
    finally:
        worker.stop()
        capture.stop()
    events = {}
    for event in capture.named("worker_task"):
        props = event["properties"]
        events.setdefault(props["task_name"], []).append((props["retries"], props["status"], props["state"]))
    assert sorted(events["retries.succeeds_third_time"]) == [(0, "retry", "RETRY"), (1, "retry", "RETRY"),
                                                             (2, "success", "SUCCESS")]
    assert sorted(events["retries.always_fails"]) == [(0, "retry", "RETRY"), (1, "retry", "RETRY"),
                                                      (2, "failure", "FAILURE")]
