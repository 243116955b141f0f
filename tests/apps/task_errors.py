"""A Celery app (filesystem broker, folder from TASK_ERRORS_BROKER_DIR) with a task that fails in the
application's own helper, and one that logs through Celery's task logger and a module logger below it."""

from __future__ import annotations

import os
from pathlib import Path

from celery import Celery
from celery.utils.log import get_task_logger

folder = Path(os.environ.get("TASK_ERRORS_BROKER_DIR", "/tmp/task-errors-broker"))
folder.mkdir(parents=True, exist_ok=True)
celery_app = Celery("task_errors", broker="filesystem://")
celery_app.conf.update(
    task_ignore_result=True, task_default_queue="task-errors", worker_prefetch_multiplier=1,
    broker_transport_options={"data_folder_in": str(folder), "data_folder_out": str(folder),
                              "processed_folder": str(folder), "store_processed": False,
                              "control_folder": str(folder)},
)
task_logger = get_task_logger(__name__)
below_task_logger = get_task_logger(f"{__name__}.pricing")


def total(items: list[object]) -> int:
    return sum(items)  # a str among the items: TypeError, here


@celery_app.task(name="task_errors.bill")
def bill(items: list[object]) -> int:
    return total(items)


@celery_app.task(name="task_errors.report")
def report(number: int) -> None:
    task_logger.info("report %d started", number)
    below_task_logger.info("report %d priced", number)
