"""A FastAPI app whose route raises an error nothing handles: uvicorn (or gunicorn's worker) then logs
"Exception in ASGI application" on its own non-propagating logger, after the request's span has ended."""

from __future__ import annotations

import logging

from fastapi import FastAPI

app = FastAPI()


class ChargeFailed(Exception):
    pass


@app.get("/boom")
def boom() -> dict[str, str]:
    raise ChargeFailed("card declined")


@app.get("/ok")
def ok() -> dict[str, str]:
    logging.getLogger("app.views").info("served ok", extra={"route_name": "ok"})
    return {"ok": "yes"}
