"""The FastAPI app the request-path and latency benchmarks serve (issue #16's workload): one sync route with a path
parameter that runs one SQLAlchemy query on SQLite and writes one log line, and (``./run bench latency``) one
async route with a path parameter that writes one log line. ``BENCH_CHILD_SPANS=N`` makes the
route open N sequential internal spans through the OpenTelemetry API (no-ops when no SDK is configured), to
price one extra span. Two ``/__bench`` routes let the benchmark read, outside its measured window, how many
full GC collections the server ran and which Python thread each OS thread is; with ``BENCH_PAUSE_PROBE=1``
(the latency benchmark) the server also runs benchmarks/pause_probe.py, read per window at ``/__bench/pauses``."""

from __future__ import annotations

import gc
import logging
import os
import threading
from typing import Any

from fastapi import FastAPI
from opentelemetry import trace
from sqlalchemy import QueuePool, create_engine, text

from benchmarks.pause_probe import PauseProbe, heap_size

CHILD_SPANS = int(os.environ.get("BENCH_CHILD_SPANS", "0"))

# In-memory SQLite defaults to one connection per thread (SingletonThreadPool, five of them), which closes
# connections from the wrong thread once the threadpool's workers outnumber it: a queue pool of connections
# usable from any thread, as with a server database (each is its own empty database; `select :id` needs none).
engine = create_engine("sqlite://", poolclass=QueuePool, pool_size=10, connect_args={"check_same_thread": False})
app = FastAPI()
logger = logging.getLogger("bench")
tracer = trace.get_tracer("bench")
full_collections = 0


def _count_full_collections(phase: str, info: dict[str, Any]) -> None:
    global full_collections
    if phase == "start" and info["generation"] == 2:
        full_collections += 1


gc.callbacks.append(_count_full_collections)


@app.get("/items/{item_id}")
def read_item(item_id: int) -> dict[str, int]:
    with engine.connect() as connection:
        value = connection.execute(text("select :id"), {"id": item_id}).scalar_one()
    for index in range(CHILD_SPANS):
        with tracer.start_as_current_span("child") as span:
            span.set_attribute("bench.index", index)
    logger.info("item read", extra={"item_id": item_id})
    return {"item_id": value}


@app.get("/hello/{item_id}")
async def say_hello(item_id: int) -> dict[str, int]:
    logger.info("hello", extra={"item_id": item_id})
    return {"item_id": item_id}


helper_pid = 0
if os.environ.get("BENCH_EXPORT_HELPER"):
    # Issue #16 item 8: the exporters run in a helper process (benchmarks/export_helper.py); the launcher has
    # configured tl-otel before this module is imported.
    from benchmarks.export_helper import HelperProcess, move_exports_to_helper
    from tl_otel import current_runtime

    _helper = HelperProcess()
    helper_pid = _helper.pid
    move_exports_to_helper(current_runtime(), _helper)


@app.get("/__bench/helper")
def export_helper_pid() -> dict[str, int]:
    return {"pid": helper_pid}


@app.get("/__bench/gc")
def full_gc_count() -> dict[str, int]:
    return {"full_collections": full_collections}


@app.get("/__bench/threads")
def thread_names() -> dict[str, str]:
    # Python < 3.14 does not give its threads OS names (every /proc/<pid>/task/*/comm is the process's), so the
    # benchmark asks the process which Python thread each native thread id is.
    return {str(thread.native_id): thread.name for thread in threading.enumerate()}


probe = PauseProbe()
if os.environ.get("BENCH_PAUSE_PROBE"):
    probe.start()


@app.post("/__bench/pauses")
def take_pauses() -> dict[str, Any]:
    # A POST: reading resets the window (full collections and the sleep probe's longest lateness since the last read).
    return probe.take()


@app.get("/__bench/heap")
def heap() -> dict[str, int]:
    return heap_size()
