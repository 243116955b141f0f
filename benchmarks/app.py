"""The FastAPI app the request-path benchmark serves: one route, one log line per request."""

from __future__ import annotations

import logging

from fastapi import FastAPI

app = FastAPI()
logger = logging.getLogger("bench")


@app.get("/items/{item_id}")
def read_item(item_id: int) -> dict[str, int]:
    logger.info("item read", extra={"item_id": item_id})
    return {"item_id": item_id}
