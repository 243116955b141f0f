"""An application with its own pinned framework versions (tests/test_pinned_versions.py installs tl-otel into
its virtualenv): a FastAPI route that queries SQLite through a sync SQLAlchemy engine and enqueues a Celery
task, which queries too. Broker: kombu's filesystem transport under ``SHOP_DATA_DIR`` (no shared server)."""

from __future__ import annotations

import os
from pathlib import Path

from celery import Celery
from fastapi import FastAPI
from sqlalchemy import create_engine, text

DATA = Path(os.environ["SHOP_DATA_DIR"])
BROKER = DATA / "broker"
BROKER.mkdir(parents=True, exist_ok=True)

engine = create_engine(f"sqlite:///{DATA / 'shop.db'}")
with engine.begin() as connection:
    connection.execute(text("create table if not exists orders (id integer primary key, item text)"))

queue = Celery("shop", broker="filesystem://")
queue.conf.update(
    task_ignore_result=True,
    task_default_queue="shop",
    broker_connection_retry_on_startup=True,
    broker_transport_options={"data_folder_in": str(BROKER), "data_folder_out": str(BROKER),
                              "control_folder": str(BROKER / "control"), "store_processed": False},
)


@queue.task(name="shop.ship")
def ship(order_id: int) -> None:
    with engine.begin() as connection:
        connection.execute(text("update orders set item = item || ' (shipped)' where id = :id"), {"id": order_id})


app = FastAPI()


@app.get("/health")
def health() -> dict[str, str]:
    return {"status": "ok"}


@app.post("/orders/{item}")
def create_order(item: str) -> dict[str, int]:
    with engine.begin() as connection:
        order_id = connection.execute(text("insert into orders (item) values (:item) returning id"),
                                      {"item": item}).scalar_one()
    ship.delay(order_id)
    return {"id": order_id}
