"""A user's tiny FastAPI service: what an application team would test with tl_otel.testing."""

from __future__ import annotations

import logging

from fastapi import FastAPI, HTTPException
from opentelemetry import metrics, trace

import tl_otel

tl_otel.configure(service_name="shop")  # the application's own call; under the plugin it is the tests' one

app = FastAPI()
log = logging.getLogger("shop")
orders = metrics.get_meter("shop").create_counter("shop.orders", unit="{order}")


@app.post("/engines/{engine_id}/run")
def run_engine(engine_id: str, password: str = "") -> dict[str, str]:
    with tl_otel.engine_run(engine_id, engine_kind="pricing"):
        log.info("engine ran", extra={"engine_id": engine_id})
    return {"status": "ok"}


@app.post("/orders")
def place_order(user: str) -> dict[str, str]:
    trace.get_current_span().set_attribute("enduser.id", user)
    orders.add(1, {"channel": "web"})
    return {"status": "placed"}


@app.get("/broken")
def broken() -> dict[str, str]:
    raise HTTPException(status_code=503, detail="pricing service down")
