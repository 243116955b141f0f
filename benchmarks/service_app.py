"""The start-up benchmark's app: what a FastAPI service of this kind imports at start (FastAPI, a SQLAlchemy
engine, httpx, Celery to enqueue), so every variant pays for the same libraries and only the telemetry differs."""

from __future__ import annotations

import httpx
from celery import Celery
from fastapi import FastAPI
from sqlalchemy import create_engine, text

engine = create_engine("sqlite://")
queue = Celery("bench", broker="memory://")
client = httpx.Client()
app = FastAPI()


@app.get("/items/{item_id}")
def read_item(item_id: int) -> dict[str, int]:
    with engine.connect() as connection:
        value = connection.execute(text("select :id"), {"id": item_id}).scalar_one()
    return {"item_id": value}
