"""A FastAPI app with an async route whose error nothing handles (uvicorn then logs "Exception in ASGI
application" after the request's span ended) and a route whose response does not match its model (FastAPI
raises ResponseValidationError after the handler returned). Started by ``tests/apps/manage_shop.py``."""

from __future__ import annotations

from fastapi import FastAPI
from pydantic import BaseModel

app = FastAPI()


class ChargeFailed(Exception):
    pass


class Receipt(BaseModel):
    total: int


def charge(order_id: int) -> None:
    raise ChargeFailed(f"card declined for order {order_id}")


@app.get("/orders/{order_id}/pay")
async def pay(order_id: int) -> dict[str, int]:
    charge(order_id)
    return {"order": order_id}


@app.get("/orders/{order_id}/receipt", response_model=Receipt)
async def receipt(order_id: int) -> dict[str, str]:
    return {"total": "not a number"}


@app.get("/health")
async def health() -> dict[str, str]:
    return {"ok": "yes"}
