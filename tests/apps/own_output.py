"""An application that prints every record at DEBUG to stderr through its own root handler, as many do
(``basicConfig(level=DEBUG)`` at import), with a route that logs one line."""

from __future__ import annotations

import logging
import sys

from fastapi import FastAPI

logging.basicConfig(level=logging.DEBUG, format="APP %(levelname)s %(name)s %(message)s", stream=sys.stderr)

app = FastAPI()
orders = logging.getLogger("shop.orders")


@app.get("/orders/{order_id}")
def order(order_id: int) -> dict[str, int]:
    orders.info("order %s served", order_id)
    return {"order": order_id}
