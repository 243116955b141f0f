"""An API route and a Celery task whose outgoing calls fail (tests/test_outgoing_errors.py): the route calls a
dead service with ``requests`` (uncaught: a 500), the task with ``httpx`` (the task fails). Broker: kombu's
filesystem transport under ``OUTGOING_DATA_DIR``; the dead service's URL is ``DEAD_SERVICE_URL``."""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import requests
from celery import Celery
from fastapi import FastAPI

DEAD = os.environ["DEAD_SERVICE_URL"]
BROKER = Path(os.environ["OUTGOING_DATA_DIR"]) / "broker"
BROKER.mkdir(parents=True, exist_ok=True)

queue = Celery("outgoing", broker="filesystem://")
queue.conf.update(
    task_ignore_result=True,
    task_default_queue="outgoing",
    broker_connection_retry_on_startup=True,
    broker_transport_options={"data_folder_in": str(BROKER), "data_folder_out": str(BROKER),
                              "control_folder": str(BROKER / "control"), "store_processed": False},
)


def fetch_quote(sku: str) -> dict:
    response = requests.post(f"{DEAD}/quote", json={"sku": sku}, timeout=5)
    return response.json()


def notify_warehouse(order: str) -> None:
    httpx.post(f"{DEAD}/notify", json={"order": order}, timeout=5)


@queue.task(name="outgoing.notify")
def notify(order: str) -> None:
    notify_warehouse(order)


app = FastAPI()


@app.get("/health")
def health() -> dict[str, str]:
    return {"status": "ok"}


@app.post("/quotes/{sku}")
def quote(sku: str) -> dict:
    return fetch_quote(sku)


@app.post("/orders/{order}")
def order(order: str) -> dict[str, str]:
    notify.delay(order)
    return {"order": order}
