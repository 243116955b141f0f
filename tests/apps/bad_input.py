"""An application that hands tl-otel the worst values an application can: a FastAPI app and a Celery app
whose handlers and tasks log and set span attributes from circular, deep, huge, non-UTF-8, NaN and
unprintable values, and raise an exception whose ``__str__`` raises."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from celery import Celery
from fastapi import FastAPI
from opentelemetry import trace

logger = logging.getLogger("bad-input")


class BrokenStrError(Exception):
    def __str__(self) -> str:
        raise RuntimeError("__str__ is broken")


class Unprintable:
    def __str__(self) -> str:
        raise RuntimeError("no str")

    def __repr__(self) -> str:
        raise RuntimeError("no repr")


class BrokenMapping(dict):
    def items(self):  # type: ignore[override]
        raise RuntimeError("broken mapping")

    def __iter__(self):
        raise RuntimeError("broken mapping")


def corpus() -> dict[str, Any]:
    circular: dict[str, Any] = {"a": 1}
    circular["self"] = circular
    deep: dict[str, Any] = {}
    leaf = deep
    for _ in range(100_000):
        leaf["n"] = {}
        leaf = leaf["n"]
    return {
        "circular": circular, "deep": deep, "huge": "x" * 5_000_000, "bytes": b"\xff\xfe\x00",
        "surrogate": "a\ud800b", "nan": float("nan"), "inf": float("inf"), "unprintable": Unprintable(),
        "broken_mapping": BrokenMapping(a=1), "wide": list(range(100_000)),
    }


def feed_everything(where: str) -> None:
    """Every bad value through every API an application uses; none of it may raise."""
    values = corpus()
    span = trace.get_current_span()
    for key, value in values.items():
        span.set_attribute(f"bad.{key}", value)
        logger.warning("bad %s", key, extra={f"bad_{key}": value})
        if key != "deep":
            # Not the deep value as a %s argument: the stdlib StreamHandler Celery installs re-raises
            # RecursionError on purpose (logging.StreamHandler.emit), before tl-otel is involved.
            logger.warning("bad %s: %s", key, value)
    span.set_attributes(BrokenMapping(a=1))
    span.add_event("bad event", {"circular": values["circular"]})
    span.record_exception(BrokenStrError())
    logger.warning(Unprintable())
    logger.warning("%d apples", "not a number")
    logger.error("with a broken exception", exc_info=BrokenStrError())
    logger.info("%s survived the corpus", where)


app = FastAPI()


@app.get("/corpus")
def run_corpus() -> dict[str, str]:
    feed_everything("api")
    return {"status": "survived"}


@app.get("/broken-exception")
def broken_exception() -> dict[str, str]:
    raise BrokenStrError()


@app.get("/fine")
def fine() -> dict[str, str]:
    logger.info("fine request")
    return {"status": "fine"}


folder = Path(os.environ.get("BAD_INPUT_BROKER_DIR", "/tmp/bad-input-broker"))
folder.mkdir(parents=True, exist_ok=True)
celery_app = Celery("bad_input", broker="filesystem://")
celery_app.conf.update(
    task_ignore_result=True, task_default_queue="bad", worker_prefetch_multiplier=1,
    broker_transport_options={"data_folder_in": str(folder), "data_folder_out": str(folder),
                              "processed_folder": str(folder), "store_processed": False,
                              "control_folder": str(folder)},
)


@celery_app.task(name="bad_input.corpus")
def corpus_task(*args: Any) -> str:
    logger.warning("task args", extra={"task_args": args})
    trace.get_current_span().set_attribute("task.args", repr(args))
    feed_everything("worker")
    return "survived"


@celery_app.task(name="bad_input.broken")
def broken_task() -> None:
    try:
        raise BrokenStrError()
    except BrokenStrError:
        logger.info("the task saw its own exception type")
        raise


@celery_app.task(name="bad_input.fine")
def fine_task(n: int) -> int:
    logger.info("fine task %d", n)
    return n


@celery_app.task(name="bad_input.flaky")
def flaky_task(n: int, fail: bool) -> int:
    """Fails when told to (the alerting process-model tests drive a failure rate with it)."""
    if fail:
        raise ValueError(f"flaky task {n} failed on purpose")
    return n
