"""A small FastAPI + SQLAlchemy (sqlite) service for the bootstrap-venv test. It counts the spans each request
made, by kind and instrumentation, with a span processor of its own, and answers them at /counts/<trace id>;
the JSON lines on stdout give the log lines per record. It imports nothing from this repository (it runs in a
fresh virtualenv where tl-otel is installed from a wheel)."""

from __future__ import annotations

import collections
import logging
import os
import threading

import sqlalchemy
from fastapi import FastAPI
from opentelemetry import trace
from opentelemetry.sdk.trace import SpanProcessor

_by_trace: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
_lock = threading.Lock()
log = logging.getLogger("bootstrap_app")


class CountPerTrace(SpanProcessor):
    def on_end(self, span) -> None:
        if span.kind is trace.SpanKind.CLIENT and span.name == "connect":
            return  # SQLAlchemy's pool opening a connection, not a query
        with _lock:
            _by_trace[format(span.context.trace_id, "032x")][f"{span.kind.name} {span.instrumentation_scope.name}"] += 1


trace.get_tracer_provider().add_span_processor(CountPerTrace())
engine = sqlalchemy.create_engine(f"sqlite:///{os.environ['BOOTSTRAP_APP_DB']}")
with engine.begin() as connection:
    connection.execute(sqlalchemy.text("create table if not exists items (id integer primary key, name text)"))
    connection.execute(sqlalchemy.text("insert into items (name) values ('a'), ('b')"))
app = FastAPI()


@app.get("/items")
def items() -> dict[str, object]:
    with engine.connect() as connection:
        names = [row[0] for row in connection.execute(sqlalchemy.text("select name from items"))]
        total = connection.execute(sqlalchemy.text("select count(*) from items")).scalar()
    log.info("listed items", extra={"item_count": total})
    log.warning("listing was slow", extra={"item_count": total})  # WARNING: what every handler gets
    context = trace.get_current_span().get_span_context()
    return {"trace_id": format(context.trace_id, "032x"), "names": names}


@app.get("/counts/{trace_id}")
def counts(trace_id: str) -> dict[str, int]:
    with _lock:
        return dict(_by_trace.get(trace_id, {}))
