"""Celery's task logger (``get_task_logger``) and the module loggers below it reach the JSON lines at
``TL_OTEL_LOG_LEVEL`` under every pool, although Celery leaves that logger at its ``--loglevel`` (WARNING by
default); Celery's own stderr handler prints what it printed without tl-otel (none of those INFO records)."""

from __future__ import annotations

import pytest

from examples.peers.waiting import wait_for
from examples.processes import BIN, base_env, filesystem_sender, start

pytestmark = pytest.mark.e2e

TASKS = 5


def _send(folder: str, name: str, *args: object) -> None:
    filesystem_sender(folder).send_task(name, args=args, queue="task-errors")


@pytest.mark.parametrize("pool", ["solo", "threads", "prefork"])
def test_task_logger_records_reach_the_json_lines_under_every_pool(tmp_path, pool):
    folder = str(tmp_path / "broker")
    env = base_env(tmp_path / "data", OTEL_SERVICE_NAME="task-logger", OTEL_METRICS_EXPORTER="none",
                   TASK_ERRORS_BROKER_DIR=folder, TL_OTEL_ALERT_STORE="process")
    worker = start("worker", [str(BIN / "celery"), "-A", "tests.apps.task_errors:celery_app", "worker",
                              "--without-heartbeat", "--without-gossip", "--without-mingle", "-Q", "task-errors",
                              f"--pool={pool}", "--concurrency=1"], env, tmp_path / "logs")

    def task_lines() -> list[str]:
        return [record["message"] for record in worker.records()
                if record.get("type") == "log" and str(record.get("logger")).startswith("tests.apps.task_errors")]

    try:
        # At Celery's default --loglevel its "ready." line is INFO: a JSON line only.
        assert wait_for(lambda: any(str(record.get("message")).endswith(" ready.") for record in worker.records())
                        or worker.popen.poll() is not None, 90), worker.stderr()
        for number in range(TASKS):
            _send(folder, "task_errors.report", number)
        assert wait_for(lambda: len(task_lines()) >= 2 * TASKS, 90), task_lines()
    finally:
        worker.stop()
    expected = [f"report {n} {what}" for n in range(TASKS) for what in ("started", "priced")]
    assert sorted(task_lines()) == sorted(expected)
    assert "report 0 started" not in worker.stderr()  # Celery's handler stays at its --loglevel
