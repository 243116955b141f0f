"""One assembled request → one Scout ``BatchCommand``, built with scout_apm's own command classes so
the message shapes are exactly its agent's. Order as its agent sends them: ``StartRequest``, the request
tags, then each span in completion order (children before parents) as ``StartSpan``, its tags,
``StopSpan``, and ``FinishRequest`` last."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Mapping
from typing import Any

from scout_apm.core.agent.commands import (
    BatchCommand,
    FinishRequest,
    StartRequest,
    StartSpan,
    StopSpan,
    TagRequest,
    TagSpan,
)

from tl_otel.exporters.scout.assembly import Assembled
from tl_otel.exporters.scout.naming import is_noise_span, request_tags, root_operation, span_operation
from tl_otel.safe_values import to_jsonable

_UTC = dt.timezone.utc
_JSON_SAFE = (str, int, float, bool, type(None))


def _time(time_ns: int | None) -> dt.datetime:
    return dt.datetime.fromtimestamp((time_ns or 0) / 1e9, tz=_UTC)


def _uuid(prefix: str, *parts: int) -> str:
    """Deterministic ``req-``/``span-`` ids from OTel ids (a re-sent request keeps its ids)."""
    digest = hashlib.blake2b(b"".join(part.to_bytes(16, "big") for part in parts), digest_size=16).hexdigest()
    return f"{prefix}-{digest[:8]}-{digest[8:12]}-4{digest[13:16]}-{'89ab'[int(digest[16], 16) & 3]}" \
           f"{digest[17:20]}-{digest[20:32]}"


def tag_value(value: Any) -> Any:
    """Every value is JSON-serialisable: one bad tag value must not lose the request (scout_apm's own
    sender drops the whole request and reconnects when json.dumps fails)."""
    if type(value) in _JSON_SAFE:
        return value if not (type(value) is float and value != value) else str(value)
    if isinstance(value, (tuple, list)):
        return [tag_value(item) for item in value]
    converted = to_jsonable(value)
    try:
        json.dumps(converted, allow_nan=False)
        return converted
    except (TypeError, ValueError):
        return str(converted)


def _attributes(span: Any) -> Mapping[str, Any]:
    plain = getattr(getattr(span, "_attributes", None), "_dict", None)
    return plain if isinstance(plain, dict) else (span.attributes or {})


def build(request: Assembled) -> BatchCommand:
    root = request.root
    root_context = root.context
    request_id = _uuid("req", root_context.trace_id, root_context.span_id)
    root_attributes = _attributes(root)
    started = _time(root.start_time)
    commands: list[Any] = [StartRequest(started, request_id)]
    for tag, value in request_tags(root, root_attributes).items():
        commands.append(TagRequest(started, request_id, tag, tag_value(value)))

    # Spans Scout has no equivalent of are left out; their children go to the nearest kept ancestor.
    dropped = {span.context.span_id: span.parent.span_id for span in request.descendants
               if is_noise_span(span)}
    root_span_id = _uuid("span", root_context.trace_id, root_context.span_id)
    for span in request.descendants:
        context = span.context
        if context.span_id in dropped:
            continue
        parent = span.parent.span_id
        while parent in dropped:
            parent = dropped[parent]
        span_id = _uuid("span", context.trace_id, context.span_id)
        parent_id = _uuid("span", context.trace_id, parent)
        operation, tags = span_operation(span, _attributes(span))
        span_start = _time(span.start_time)
        commands.append(StartSpan(span_start, request_id, span_id, parent_id, operation))
        for tag, value in tags.items():
            if value is not None:
                commands.append(TagSpan(span_start, request_id, span_id, tag, tag_value(value)))
        commands.append(StopSpan(_time(span.end_time), request_id, span_id))

    commands.append(StartSpan(started, request_id, root_span_id, None, root_operation(root, root_attributes)))
    finished = _time(root.end_time)
    commands.append(StopSpan(finished, request_id, root_span_id))
    commands.append(FinishRequest(finished, request_id))
    return BatchCommand(commands)
