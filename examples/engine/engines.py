"""The engines themselves: plain functions from an input dict to a result dict."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


class EngineError(RuntimeError):
    pass


def pricing(data: dict[str, Any]) -> dict[str, Any]:
    items = data.get("items", [])
    return {"total": round(sum(float(item.get("price", 0)) * int(item.get("qty", 1)) for item in items), 2)}


def report(data: dict[str, Any]) -> dict[str, Any]:
    time.sleep(float(data.get("seconds", 0.2)))
    return {"rows": int(data.get("rows", 10))}


def broken(data: dict[str, Any]) -> dict[str, Any]:
    source = data.get("source")
    if source:
        # Error messages echo what they were given, URLs with credentials included.
        raise EngineError(f"legacy importer rejected the export at {source}")
    raise EngineError(f"legacy importer rejected input with {len(data)} fields")


ENGINES: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "pricing": pricing,
    "report": report,
    "broken": broken,
}
