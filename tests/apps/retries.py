"""A Celery app whose tasks retry: one that succeeds on its third attempt, one that fails after its last
retry. On the filesystem broker (folder from RETRIES_BROKER_DIR), so a test needs no shared server."""

from __future__ import annotations

import os
from pathlib import Path

from celery import Celery

folder = Path(os.environ.get("RETRIES_BROKER_DIR", "/tmp/retries-broker"))
folder.mkdir(parents=True, exist_ok=True)
celery_app = Celery("retries", broker="filesystem://")
celery_app.conf.update(
    task_ignore_result=True, task_default_queue="retries", worker_prefetch_multiplier=1,
    broker_transport_options={"data_folder_in": str(folder), "data_folder_out": str(folder),
                              "processed_folder": str(folder), "store_processed": False,
                              "control_folder": str(folder)},
)


class Flaky(Exception):
    pass


@celery_app.task(name="retries.succeeds_third_time", bind=True, max_retries=3)
def succeeds_third_time(self) -> str:
    if self.request.retries < 2:
        raise self.retry(exc=Flaky(f"attempt {self.request.retries}"), countdown=0)
    return "done"


@celery_app.task(name="retries.always_fails", bind=True, max_retries=2)
def always_fails(self) -> None:
    try:
        raise Flaky(f"attempt {self.request.retries}")
    except Flaky as exc:
        raise self.retry(exc=exc, countdown=0) from None
