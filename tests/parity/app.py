"""The same FastAPI app and Celery tasks, instrumented either by scout_apm's own integrations
(``scout``) or by tl-otel (``otel``), driven through the same requests and task runs. Both send to the
core agent at SCOUT_CORE_AGENT_SOCKET_PATH; the parity test compares what arrives.

Usage: python -m tests.parity.app scout|otel <outbound-http-base-url>"""

from __future__ import annotations

import sys
import time

MODE = sys.argv[1]
OUTBOUND = sys.argv[2]

if MODE == "otel":
    import tl_otel

    tl_otel.configure(service_name="parity", traces_exporter="scout", logs_exporter="none",
                      metrics_exporter="none")
else:
    import scout_apm.core

    scout_apm.core.install()

import requests  # noqa: E402
from celery import Celery  # noqa: E402
from fastapi import FastAPI, HTTPException  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402
from sqlalchemy import create_engine, event, text  # noqa: E402

engine = create_engine("sqlite://")


@event.listens_for(engine, "connect")
def _register_sleep(connection, _record) -> None:
    connection.create_function("sleepy", 1, lambda seconds: time.sleep(seconds) or seconds)

app = FastAPI()
celery_app = Celery("parity", broker="memory://")
celery_app.conf.task_always_eager = True

if MODE == "scout":
    from scout_apm import celery as scout_celery
    from scout_apm.async_.starlette import ScoutMiddleware
    from scout_apm.sqlalchemy import instrument_sqlalchemy

    instrument_sqlalchemy(engine)
    app.add_middleware(ScoutMiddleware)
    scout_celery.install(celery_app)


@app.get("/items/{item_id}")
def read_item(item_id: int, q: str = "") -> dict:
    with engine.connect() as connection:
        value = connection.execute(text("SELECT :id + 1 AS next"), {"id": item_id}).scalar()
    requests.get(f"{OUTBOUND}/prices/{item_id}", timeout=5)
    return {"item_id": item_id, "next": value}


@app.get("/slow")
def slow() -> dict:
    with engine.connect() as connection:
        connection.execute(text("SELECT sleepy(:seconds)"), {"seconds": 0.6})  # over 0.5 s: a stack
        for _ in range(5):  # one statement, 5 calls, over 150 ms: an N+1 stack
            connection.execute(text("SELECT sleepy(:seconds) + 1"), {"seconds": 0.04})
    return {}


@app.get("/boom")
def boom() -> dict:
    raise RuntimeError("boom")


@app.get("/missing")
def missing() -> dict:
    raise HTTPException(status_code=404, detail="nope")


@celery_app.task(name="parity.add")
def add(x: int, y: int) -> int:
    with engine.connect() as connection:
        return connection.execute(text("SELECT :x + :y"), {"x": x, "y": y}).scalar()


@celery_app.task(name="parity.crash")
def crash() -> None:
    raise ValueError("task failed")


client = TestClient(app, raise_server_exceptions=False)
queued_at_ms = int(time.time() * 1000) - 150
client.get("/items/7?q=abc&password=hunter2",
           headers={"X-Forwarded-For": "203.0.113.5, 10.0.0.1", "X-Request-Start": f"t={queued_at_ms}"})
client.get("/slow")
client.get("/boom")
client.get("/missing")
client.get("/does-not-exist")  # the router's own 404: no endpoint, no request
client.post("/items/7")  # the router's 405: the route matched the path, not the method
add.apply(args=(2, 3))
crash.apply()

if MODE == "otel":
    tl_otel.shutdown(10)
else:
    from scout_apm.core.agent.socket import CoreAgentSocketThread

    CoreAgentSocketThread.wait_until_drained(timeout_seconds=10)
