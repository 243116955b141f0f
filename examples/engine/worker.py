"""Engine Worker: runs one engine execution per Celery task."""

from __future__ import annotations

import logging
import time

import httpx

import tl_otel
from examples.engine.config import api_url
from examples.engine.db import Execution, session
from examples.engine.engines import ENGINES
from examples.engine.queue import EXECUTE_TASK, celery_app

logger = logging.getLogger("tl-engine.worker")

__all__ = ["celery_app", "execute"]


def _finish(execution_id: str, **changes: object) -> None:
    with session() as current:
        row = current.get(Execution, execution_id)
        for key, value in changes.items():
            setattr(row, key, value)
        current.commit()


@celery_app.task(name=EXECUTE_TASK)
def execute(execution_id: str) -> None:
    with session() as current:
        row = current.get(Execution, execution_id)
        engine_id, data = row.engine_id, dict(row.input)
    # The engine definition comes from the Engine API: a call to a remote service.
    definition = httpx.get(f"{api_url()}/engines/{engine_id}", timeout=5.0).raise_for_status().json()
    started = time.perf_counter()
    try:
        with tl_otel.engine_run(engine_id, execution_id=execution_id, engine_kind=definition["kind"]):
            result = ENGINES[definition["kind"]](data)
    except Exception as exc:
        duration_ms = round((time.perf_counter() - started) * 1000, 1)
        _finish(execution_id, status="failed", error=f"{type(exc).__name__}: {exc}"[:500], duration_ms=duration_ms)
        logger.error("Engine failed", exc_info=True,
                     extra={"engine_id": engine_id, "duration_ms": duration_ms, "status": "failed"})
        raise
    duration_ms = round((time.perf_counter() - started) * 1000, 1)
    _finish(execution_id, status="success", result=result, duration_ms=duration_ms)
    logger.info("Engine executed", extra={"engine_id": engine_id, "duration_ms": duration_ms, "status": "success"})
