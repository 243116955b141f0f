"""ISO 8601 timestamps as ``datetime.isoformat()`` writes an aware UTC datetime (``2026-11-25T11:46:20.006714+00:00``;
no fraction when the microseconds are 0): the form PostHog's events and Scout's commands carry. The date part
is formatted once per second, not once per timestamp (building a datetime costs more than the rest)."""

from __future__ import annotations

import datetime as dt

_UTC = dt.timezone.utc
_second_cache: tuple[int, str] = (-1, "")


def isoformat_utc(time_ns: int | None) -> str:
    global _second_cache
    micros = (time_ns or 0) // 1000
    seconds, fraction = divmod(micros, 1_000_000)
    cached, prefix = _second_cache
    if cached != seconds:
        prefix = dt.datetime.fromtimestamp(seconds, tz=_UTC).strftime("%Y-%m-%dT%H:%M:%S")
        _second_cache = (seconds, prefix)  # one tuple, replaced whole: safe to read from any thread
    return f"{prefix}.{fraction:06d}+00:00" if fraction else f"{prefix}+00:00"
