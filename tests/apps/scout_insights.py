"""A FastAPI app and a Celery task whose Scout requests carry what Scout's insight views need: a slow SQL
query (an SQLite function that sleeps), an N+1 (one statement five times with different literals), a URL
no route matches, and a job. Run with ``configure()`` or under ``opentelemetry-instrument``; sends to the
core agent at SCOUT_CORE_AGENT_SOCKET_PATH.

Usage: python -m tests.apps.scout_insights configure|launcher [no-objtrace]"""

from __future__ import annotations

import sys
import time

MODE = sys.argv[1]
if "no-objtrace" in sys.argv:
    sys.modules["scout_apm.core._objtrace"] = None  # type: ignore[assignment]  # as if the wheel had no extension

import tl_otel  # noqa: E402

if MODE == "configure":
    tl_otel.configure(service_name="insights", traces_exporter="scout", logs_exporter="none",
                      metrics_exporter="none")

from celery import Celery  # noqa: E402
from fastapi import FastAPI  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402
from sqlalchemy import create_engine, event, text  # noqa: E402

engine = create_engine("sqlite://")


@event.listens_for(engine, "connect")
def _register_sleep(connection, _record) -> None:
    connection.create_function("sleepy", 1, lambda seconds: time.sleep(seconds) or seconds)


app = FastAPI()
celery_app = Celery("insights", broker="memory://")
celery_app.conf.task_always_eager = True


@app.get("/slow")
def slow() -> dict:
    with engine.connect() as connection:
        value = connection.execute(text("SELECT sleepy(0.6)")).scalar()  # the slow query's line
    return {"value": value}


@app.get("/n-plus-one")
def n_plus_one() -> dict:
    values = []
    with engine.connect() as connection:
        for item in range(6):
            # One statement once literals are `?`: five calls over 150 ms make it an N+1 candidate.
            values.append(connection.execute(text(f"SELECT sleepy(0.04) + {item}")).scalar())  # the N+1 line
    return {"values": values}


@celery_app.task(name="insights.job")
def job() -> int:
    with engine.connect() as connection:
        return connection.execute(text("SELECT 1")).scalar()


client = TestClient(app)
client.get("/slow")
client.get("/n-plus-one")
client.get("/does-not-exist")
job.apply()
tl_otel.shutdown(10)
