"""Failures for Scout's Error Monitoring: a Celery app (filesystem broker, folder from SCOUT_ERRORS_BROKER_DIR,
queue ``scout-errors``) with a task that fails, one that fails after two retries and one that succeeds on its
third attempt, and a FastAPI app with a sync and an async route that raise. With SCOUT_ERRORS_VIA=scout_apm the
Celery app installs scout_apm's own integration instead (run without tl-otel's launcher), to compare."""

from __future__ import annotations

import os
from pathlib import Path

from celery import Celery
from fastapi import FastAPI

folder = Path(os.environ.get("SCOUT_ERRORS_BROKER_DIR", "/tmp/scout-errors-broker"))
folder.mkdir(parents=True, exist_ok=True)
celery_app = Celery("scout_errors", broker="filesystem://")
celery_app.conf.update(
    task_ignore_result=True, task_default_queue="scout-errors", worker_prefetch_multiplier=1,
    broker_transport_options={"data_folder_in": str(folder), "data_folder_out": str(folder),
                              "processed_folder": str(folder), "store_processed": False,
                              "control_folder": str(folder)},
)
if os.environ.get("SCOUT_ERRORS_VIA") == "scout_apm":
    import scout_apm.celery

    scout_apm.celery.install(celery_app)


class PaymentDeclined(Exception):
    pass


class Flaky(Exception):
    pass


def charge(order: str) -> None:
    raise PaymentDeclined(f"order {order} declined")


@celery_app.task(name="scout_errors.charge")
def charge_task(order: str) -> None:
    charge(order)


@celery_app.task(name="scout_errors.always_fails", bind=True, max_retries=2)
def always_fails(self) -> None:
    try:
        raise Flaky("still down")
    except Flaky as exc:
        if self.request.retries < self.max_retries:
            raise self.retry(exc=exc, countdown=0) from None
        raise


@celery_app.task(name="scout_errors.succeeds_third_time", bind=True, max_retries=3)
def succeeds_third_time(self) -> str:
    if self.request.retries < 2:
        raise self.retry(exc=Flaky(f"attempt {self.request.retries}"), countdown=0)
    return "done"


app = FastAPI()


@app.get("/orders/{order_id}/charge")
def charge_sync(order_id: str, token: str = "", page: int = 1) -> dict[str, str]:
    charge(order_id)
    return {"ok": "never"}


@app.get("/orders/{order_id}/refund")
async def refund_async(order_id: str) -> dict[str, str]:
    raise KeyError(f"no payment for {order_id}")


@app.get("/ok")
def ok() -> dict[str, str]:
    return {"ok": "yes"}
