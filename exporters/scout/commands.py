"""One assembled request → one Scout ``BatchCommand`` with the message shapes of scout_apm's own command
classes (a test compares every command with theirs). Order as its agent sends them: ``StartRequest``,
the request tags, then each span in completion order (children before parents) as ``StartSpan``, its
tags, ``StopSpan``, and ``FinishRequest`` last."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Mapping
from typing import Any

from tl_otel.exporters.iso_time import isoformat_utc
from tl_otel.exporters.scout.assembly import Assembled
from tl_otel.exporters.scout.capture import ALLOCATIONS_START, ALLOCATIONS_STOP, MEM_DELTA, STACK
from tl_otel.exporters.scout.naming import is_noise_span, request_tags, root_operation, span_operation
from tl_otel.semantics.safe_values import to_jsonable

_UTC = dt.timezone.utc
_JSON_SAFE = (str, int, float, bool, type(None))


_LOW64 = (1 << 64) - 1


def _uuid(prefix: str, high: int, low: int) -> str:
    """Deterministic ``req-``/``span-`` ids in UUID form, straight from OTel ids (a re-sent request keeps
    its ids; no hashing needed: OTel ids are already random)."""
    digits = f"{high & _LOW64:016x}{low & _LOW64:016x}"
    return f"{prefix}-{digits[:8]}-{digits[8:12]}-{digits[12:16]}-{digits[16:20]}-{digits[20:]}"


def scout_request_id(trace_id: int, root_span_id: int) -> str:
    """The Scout request id of the request whose local root is ``root_span_id``: what the errors service is
    given too, so a problem links to its trace."""
    return _uuid("req", trace_id >> 64, root_span_id)


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


_FRAME = re.compile(r'^\s*File "(.*)", line (\d+), in (.*)$', re.MULTILINE)


def stack_frames(stacktrace: Any) -> list[dict[str, Any]]:
    """``code.stacktrace`` text (Python's ``File "…", line N, in f`` lines, outermost first) as the
    ``stack`` tag of scout_apm's ``Span.capture_backtrace``: ``{file, line, function}``, innermost first."""
    frames = [{"file": file, "line": int(line), "function": function}
              for file, line, function in _FRAME.findall(str(stacktrace))]
    frames.reverse()
    return frames[:50]


def measured_tags(attributes: Mapping[str, Any]) -> dict[str, Any]:
    """Span tags from what tl-otel's capture processor took on the application's thread: allocation
    counts (scout_apm leaves them out when the counter went backwards) and the stack."""
    tags: dict[str, Any] = {}
    start, stop = attributes.get(ALLOCATIONS_START), attributes.get(ALLOCATIONS_STOP)
    if isinstance(start, int) and isinstance(stop, int) and stop >= start:
        tags.update(allocations=stop - start, start_allocations=start, stop_allocations=stop)
    stacktrace = attributes.get(STACK)
    if stacktrace:
        frames = stack_frames(stacktrace)
        if frames:
            tags["stack"] = frames
    return tags


def build(request: Assembled) -> dict[str, Any]:
    """The ``BatchCommand`` message. Built as plain dicts, each timestamp formatted once per span, with
    exactly the shapes of scout_apm's command classes (tests compare them with ``.message()``)."""
    root = request.root
    request_id = scout_request_id(root.trace_id, root.span_id)
    root_attributes = root.attributes
    started = isoformat_utc(root.start_time)
    commands: list[dict[str, Any]] = [{"StartRequest": {"timestamp": started, "request_id": request_id}}]
    tags = request_tags(root, root_attributes)
    mem_delta = root_attributes.get(MEM_DELTA)
    if mem_delta is not None:
        tags["mem_delta"] = float(mem_delta)  # last, as scout_apm adds it when the request is sent
    for tag, value in tags.items():
        commands.append({"TagRequest": {"timestamp": started, "request_id": request_id, "tag": tag,
                                        "value": tag_value(value)}})

    # Spans Scout has no equivalent of are left out; their children go to the nearest kept ancestor.
    dropped = {span.span_id: span.parent_span_id for span in request.descendants if is_noise_span(span)}
    trace_high = root.trace_id
    root_span_id = _uuid("span", trace_high, root.span_id)
    for span in request.descendants:
        if span.span_id in dropped:
            continue
        parent = span.parent_span_id
        while parent in dropped:
            parent = dropped[parent]
        span_id = _uuid("span", trace_high, span.span_id)
        attributes = span.attributes
        operation, tags = span_operation(span, attributes)
        tags.update(measured_tags(attributes))
        span_start = isoformat_utc(span.start_time)
        commands.append({"StartSpan": {"timestamp": span_start, "request_id": request_id, "span_id": span_id,
                                       "parent_id": _uuid("span", trace_high, parent), "operation": operation}})
        for tag, value in tags.items():
            if value is not None:
                commands.append({"TagSpan": {"timestamp": span_start, "request_id": request_id, "span_id": span_id,
                                             "tag": tag, "value": tag_value(value)}})
        commands.append({"StopSpan": {"timestamp": isoformat_utc(span.end_time), "request_id": request_id,
                                      "span_id": span_id}})

    commands.append({"StartSpan": {"timestamp": started, "request_id": request_id, "span_id": root_span_id,
                                   "parent_id": None, "operation": root_operation(root, root_attributes)}})
    for tag, value in measured_tags(root_attributes).items():
        commands.append({"TagSpan": {"timestamp": started, "request_id": request_id, "span_id": root_span_id,
                                     "tag": tag, "value": value}})
    finished = isoformat_utc(root.end_time)
    commands.append({"StopSpan": {"timestamp": finished, "request_id": request_id, "span_id": root_span_id}})
    commands.append({"FinishRequest": {"timestamp": finished, "request_id": request_id}})
    return {"BatchCommand": {"commands": commands}}
