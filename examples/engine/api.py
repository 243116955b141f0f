"""Engine API: list engines, submit an execution, read its status."""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from typing import Any

import httpx
from fastapi import FastAPI, HTTPException
from pydantic import BaseModel, Field
from sqlalchemy import select

from examples.engine.config import pricing_url
from examples.engine.db import EngineDefinition, Execution, session
from examples.engine.queue import EXECUTE_TASK, celery_app

logger = logging.getLogger("tl-engine.api")

app = FastAPI(title="tl-engine API")


class ExecutionRequest(BaseModel):
    engine_id: str
    input: dict[str, Any] = Field(default_factory=dict)
    callback_url: str | None = None  # notified when the execution ends (callers put tokens in it)


def _execution_view(row: Execution) -> dict[str, Any]:
    return {"id": row.id, "engine_id": row.engine_id, "status": row.status, "result": row.result,
            "error": row.error, "duration_ms": row.duration_ms}


@app.get("/health")
def health() -> dict[str, str]:
    return {"status": "ok"}


@app.get("/engines")
def list_engines() -> list[dict[str, str]]:
    with session() as current:
        rows = current.scalars(select(EngineDefinition).order_by(EngineDefinition.id)).all()
        return [{"id": row.id, "name": row.name, "kind": row.kind} for row in rows]


@app.get("/engines/{engine_id}")
def get_engine(engine_id: str) -> dict[str, str]:
    with session() as current:
        row = current.get(EngineDefinition, engine_id)
        if row is None:
            raise HTTPException(status_code=404, detail=f"unknown engine {engine_id}")
        return {"id": row.id, "name": row.name, "kind": row.kind}


@app.get("/engines/{engine_id}/quote")
def quote(engine_id: str) -> dict[str, Any]:
    """The price of one execution, from the remote pricing service when one is configured."""
    get_engine(engine_id)
    remote = pricing_url()
    if remote is None:
        return {"engine_id": engine_id, "price": 1.0, "source": "local"}
    try:
        response = httpx.get(f"{remote}/prices/{engine_id}", timeout=5.0)
    except httpx.HTTPError as exc:
        logger.warning("Pricing service unreachable", extra={"engine_id": engine_id})
        raise HTTPException(status_code=502, detail="pricing service unreachable") from exc
    if response.status_code == 429:
        raise HTTPException(status_code=429, detail="pricing service rate limit")
    if response.status_code >= 400:
        raise HTTPException(status_code=502, detail=f"pricing service answered {response.status_code}")
    return {"engine_id": engine_id, **response.json(), "source": "pricing"}


@app.post("/executions", status_code=202)
def submit_execution(request: ExecutionRequest) -> dict[str, Any]:
    with session() as current:
        if current.get(EngineDefinition, request.engine_id) is None:
            raise HTTPException(status_code=404, detail=f"unknown engine {request.engine_id}")
        row = Execution(id=str(uuid.uuid4()), engine_id=request.engine_id, status="queued",
                        input=request.input, created_at=dt.datetime.now(dt.timezone.utc))
        current.add(row)
        current.commit()
    celery_app.send_task(EXECUTE_TASK, args=[row.id])
    # Logging the whole request is what applications do; tl-otel's redaction keeps its secrets out of telemetry.
    logger.info("Engine execution queued", extra={"engine_id": row.engine_id, "execution_id": row.id,
                                                  "input": request.input, "callback_url": request.callback_url})
    return _execution_view(row)


@app.get("/executions/{execution_id}")
def get_execution(execution_id: str) -> dict[str, Any]:
    with session() as current:
        row = current.get(Execution, execution_id)
        if row is None:
            raise HTTPException(status_code=404, detail="unknown execution")
        return _execution_view(row)
