"""Turning arbitrary application values into JSON-safe ones without ever raising.

Application data reaches telemetry through log ``extra=`` fields, span attributes and exception
messages. Any of them can be bytes, a circular structure, an object whose ``__str__`` raises, NaN, a
100 000-deep nesting or a 10 MB string; none of that may break a line, lose the record, or raise into
the application."""

from __future__ import annotations

import datetime as _dt
import enum
import math
from collections.abc import Mapping
from typing import Any

MAX_DEPTH = 10
MAX_ITEMS = 256
TRUNCATION_MARK = "…[truncated {} chars]"


def safe_str(value: Any) -> str:
    """``str(value)``, falling back to ``repr`` and then to a placeholder naming the type."""
    try:
        text = str(value)
        if isinstance(text, str):
            return text
    except Exception:
        pass
    try:
        text = repr(value)
        if isinstance(text, str):
            return text
    except Exception:
        pass
    try:
        name = type(value).__name__
    except Exception:
        name = "object"
    return f"<unprintable {name}>"


def truncate(text: str, max_length: int) -> str:
    if len(text) <= max_length:
        return text
    return text[:max_length] + TRUNCATION_MARK.format(len(text) - max_length)


def _float(value: float) -> float | str:
    if math.isfinite(value):
        return value
    if math.isnan(value):
        return "NaN"
    return "Infinity" if value > 0 else "-Infinity"


def to_jsonable(value: Any, max_length: int = 16384) -> Any:
    """A JSON-serialisable copy of ``value``: containers are copied with depth, breadth and cycle
    limits, strings are truncated to ``max_length``, anything else becomes its safe string."""
    return _convert(value, max_length, 0, set())


def _convert(value: Any, max_length: int, depth: int, path: set[int]) -> Any:
    kind = type(value)
    if kind is str:
        return value if len(value) <= max_length else truncate(value, max_length)
    if value is None or kind is bool or kind is int:
        return value
    if kind is float:
        return _float(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return truncate(bytes(value).decode("utf-8", "backslashreplace"), max_length)
    if isinstance(value, enum.Enum):
        return _convert(value.value, max_length, depth, path)
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return _float(float(value))
    if isinstance(value, str):
        return truncate(str.__str__(value), max_length)
    if isinstance(value, (_dt.datetime, _dt.date, _dt.time)):
        return safe_str(value.isoformat())
    if isinstance(value, (Mapping, list, tuple, set, frozenset)):
        marker = id(value)
        if marker in path:
            return "<cyclic>"
        if depth >= MAX_DEPTH:
            return f"<{type(value).__name__} nested deeper than {MAX_DEPTH}>"
        path.add(marker)
        try:
            return _convert_container(value, max_length, depth, path)
        except Exception:
            return truncate(safe_str(value), max_length)
        finally:
            path.discard(marker)
    if isinstance(value, BaseException):
        return truncate(f"{type(value).__name__}: {safe_str(value)}", max_length)
    return truncate(safe_str(value), max_length)


def _convert_container(value: Any, max_length: int, depth: int, path: set[int]) -> Any:
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for index, (key, item) in enumerate(value.items()):
            if index >= MAX_ITEMS:
                out["…"] = f"{len(value) - MAX_ITEMS} more keys"
                break
            name = key if type(key) is str else safe_str(key)
            out[name] = _convert(item, max_length, depth + 1, path)
        return out
    items = []
    for index, item in enumerate(value):
        if index >= MAX_ITEMS:
            items.append(f"… {len(value) - MAX_ITEMS} more items")
            break
        items.append(_convert(item, max_length, depth + 1, path))
    return items
