"""The Celery application shared by the API (which enqueues) and the worker (which executes)."""

from __future__ import annotations

from celery import Celery

from examples.engine.config import broker_folder, broker_url

EXECUTE_TASK = "tl_engine.execute"

celery_app = Celery("tl_engine", broker=broker_url())
celery_app.conf.update(
    task_ignore_result=True,
    task_default_queue="engine",
    worker_prefetch_multiplier=1,
    broker_connection_retry_on_startup=True,
)
if broker_url() == "filesystem://":
    folder = broker_folder()
    celery_app.conf.broker_transport_options = {
        "data_folder_in": str(folder),
        "data_folder_out": str(folder),
        "processed_folder": str(folder / "processed"),
        "store_processed": False,
        # kombu writes its exchange files into the working directory unless told otherwise
        "control_folder": str(folder / "control"),
    }
