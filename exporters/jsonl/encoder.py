"""Building one JSON line from a dict of fields, safely.

Fields are made JSON-safe (``tl_otel.semantics.safe_values``) only when a fast type check says they need it, so
the usual record of strings and numbers costs one ``json.dumps``. Lone surrogates are replaced with
U+FFFD so every line is valid UTF-8.

When orjson imports, a line whose values are all plain scalars (or flat lists of them) is written by it:
about 0.3 µs instead of 4 µs. orjson writes exactly what ``json`` writes for those values except floats in
exponent form and NaN/Infinity (it writes ``1e16`` and ``null`` where ``json`` writes ``1e+16`` or raises),
so such floats, and anything orjson refuses (lone surrogates, integers beyond 64 bits, non-string keys),
take the ``json`` path: every line is byte-identical to the ``json`` encoder's (a property test holds them
to it). Without orjson, ``json`` writes every line."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from tl_otel.semantics.safe_values import safe_str, to_jsonable, truncate
from tl_otel.semantics.span_attributes import plain

try:
    import orjson
except ImportError:  # the json path below writes the same bytes, only slower
    orjson = None  # type: ignore[assignment]

_SIMPLE = (int, bool, type(None))
_FAST_SCALARS = frozenset({str, int, bool, type(None)})
_FAST_SEQUENCES = (list, tuple)
_SURROGATES = re.compile("[\ud800-\udfff]")
_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False, default=safe_str).encode

LEVEL_NAMES = {10: "DEBUG", 20: "INFO", 30: "WARNING", 40: "ERROR", 50: "CRITICAL"}


def level_name(levelno: int) -> str:
    if levelno >= 50:
        return "CRITICAL"
    if levelno >= 40:
        return "ERROR"
    if levelno >= 30:
        return "WARNING"
    if levelno >= 20:
        return "INFO"
    return "DEBUG"


_last_second: tuple[int, str] = (-1, "")


def rfc3339(time_ns: int | None) -> str | None:
    global _last_second
    if not time_ns:
        return None
    seconds, nanos = divmod(time_ns, 1_000_000_000)
    cached_second, stamp = _last_second  # records of one batch mostly share their second
    if cached_second != seconds:
        stamp = datetime.fromtimestamp(seconds, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
        _last_second = (seconds, stamp)
    return f"{stamp}.{nanos // 1000:06d}Z"


def clean_value(value: Any, max_length: int) -> Any:
    kind = type(value)
    if kind is str:
        return value if len(value) <= max_length else truncate(value, max_length)
    if kind in _SIMPLE:
        return value
    if kind is float and value == value and value not in (float("inf"), float("-inf")):
        return value
    return to_jsonable(value, max_length)


def add_attributes(fields: dict[str, Any], attributes: Mapping[str, Any] | None, max_length: int) -> None:
    """Attributes become top-level keys; one that collides with a fixed field keeps an ``attr.`` prefix."""
    if not attributes:
        return
    items = plain(attributes).items()
    for key, value in items:
        name = key if type(key) is str else safe_str(key)
        if name in fields:
            name = "attr." + name
        kind = type(value)
        if (kind is str and len(value) <= max_length) or kind is int or kind is bool:
            fields[name] = value
        else:
            fields[name] = clean_value(value, max_length)


def _fast_value(value: Any) -> bool:
    """Whether orjson writes ``value`` byte for byte as ``json`` does (floats: where ``repr`` uses no exponent;
    NaN fails both comparisons)."""
    kind = type(value)
    if kind in _FAST_SCALARS:
        return True
    if kind is float:
        return value == 0.0 or 1e-4 <= abs(value) < 1e16
    return False


def _fast_line(fields: dict[str, Any]) -> bytes | None:
    scalars = _FAST_SCALARS
    for value in fields.values():  # _fast_value inlined for the common cases: this runs once per field
        kind = type(value)
        if kind in scalars:
            continue
        if kind is float:
            if value == 0.0 or 1e-4 <= abs(value) < 1e16:
                continue
            return None
        if kind not in _FAST_SEQUENCES or not all(_fast_value(item) for item in value):
            return None
    try:
        return orjson.dumps(fields, option=orjson.OPT_APPEND_NEWLINE)
    except Exception:  # a lone surrogate, an integer beyond 64 bits, a key that is not a string
        return None


def encode_line(fields: dict[str, Any]) -> bytes:
    if orjson is not None:
        line = _fast_line(fields)
        if line is not None:
            return line
    return encode_line_json(fields)


def encode_line_json(fields: dict[str, Any]) -> bytes:
    """The line as ``json`` writes it: the reference every line matches, and the path without orjson."""
    try:
        text = _dumps(fields)
    except Exception:
        # Something slipped past the fast checks (e.g. a float subclass that is NaN): convert it all.
        text = _dumps(to_jsonable(fields))
    try:
        return text.encode("utf-8") + b"\n"
    except UnicodeEncodeError:
        return _SURROGATES.sub("\ufffd", text).encode("utf-8") + b"\n"


