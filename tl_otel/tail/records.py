"""One input line: a tl-otel JSON line (span, log, metric) read into a dict, or ``None`` for anything else
(plain text, other JSON, a line cut short), which ``tl-otel tail`` passes through unchanged."""

from __future__ import annotations

import calendar
from typing import Any

try:
    from orjson import loads
except ImportError:  # the same result, about three times slower
    from json import loads  # type: ignore[assignment]

Record = dict[str, Any]
KINDS = frozenset({"span", "log", "metric"})
# Local roots: a request served, a task run. They end a process's part of a trace.
ROOT_KINDS = frozenset({"server", "consumer"})

_seconds_cache: dict[str, int] = {}


def parse(line: str) -> Record | None:
    text = line.strip()
    if not text.startswith("{") or not text.endswith("}"):
        return None
    try:
        record = loads(text)
    except ValueError:
        return None
    if type(record) is not dict or record.get("type") not in KINDS:
        return None
    start = start_ns(record.get("timestamp"))
    if start is None:
        return None
    record["_start"] = start
    duration = record.get("duration_ms")
    record["_end"] = start + int(duration * 1e6) if isinstance(duration, (int, float)) else start
    return record


def start_ns(stamp: Any) -> int | None:
    """RFC 3339 UTC with microseconds, as the JSON exporters write it (``2026-11-25T12:00:00.123456Z``)."""
    if type(stamp) is not str or len(stamp) < 20 or stamp[-1] != "Z":
        return None
    prefix = stamp[:19]
    seconds = _seconds_cache.get(prefix)
    if seconds is None:
        try:
            year, month, day = int(prefix[0:4]), int(prefix[5:7]), int(prefix[8:10])
            hour, minute, second = int(prefix[11:13]), int(prefix[14:16]), int(prefix[17:19])
            seconds = calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0))
        except ValueError:
            return None
        if len(_seconds_cache) > 4096:  # lines of a stream mostly share their second: a small cache is enough
            _seconds_cache.clear()
        _seconds_cache[prefix] = seconds
    fraction = stamp[20:-1] if stamp[19] == "." else ""
    try:
        nanos = int((fraction + "000000000")[:9]) if fraction else 0
    except ValueError:
        return None
    return seconds * 1_000_000_000 + nanos


def is_error(record: Record) -> bool:
    return record.get("level") in ("ERROR", "CRITICAL") or record.get("status") == "error"


def is_alert(record: Record) -> bool:
    return record.get("type") == "log" and "alert.state" in record
