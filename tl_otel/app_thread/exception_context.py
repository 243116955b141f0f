"""What a recorded exception carries beyond the SDK's own recording, so the innermost recording (the one
PostHog keeps, tl_otel.exporters.posthog.exceptions) is also the most useful one:

- the **application's frames**: a traceback only holds the frames between where the exception was raised
  and where it is being handled. An outgoing ``requests``/``httpx`` call that fails is recorded by its
  instrumentation's wrapper, so its traceback starts there and the handler or task that made the call is
  missing. :func:`application_stacktrace` puts the frames that called the handling frame (outermost first)
  above the traceback's, and leaves tl-otel's own frames out;
- the **route or task of the local root** (``http.route``, ``celery.task_name``), which the outgoing call's
  span does not have: :class:`LocalRootLinker` remembers each span's local root when it starts (one
  attribute per span, on the application's thread), read back when an exception is recorded."""

from __future__ import annotations

import importlib.util
import os
import sys
import traceback
from typing import Any

from opentelemetry import trace as trace_api
from opentelemetry.sdk.trace import SpanProcessor
from opentelemetry.trace import SpanKind, StatusCode

_ROOT = "_tl_otel_local_root"
# On an exception event: how many outermost frames of ``exception.stacktrace`` (its last block) are callers
# of the handling frame rather than frames of the exception's own traceback.
CALLER_FRAMES = "tl_otel.exception.caller_frames"
# For each local root a recorded exception happened in, until it ends: a one-item list, set to whether it ended
# in error. Keyed by span id: the SDK hands on_end a read-only copy of the span, not the span itself.
_ending: dict[int, list[bool]] = {}
MAX_ENDING = 10_000  # roots that never end (a leak elsewhere) cannot grow it without bound
MAX_CALLER_FRAMES = 60


def _own_directories() -> tuple[str, ...]:
    """tl-otel's own code: this package, and its exporters (an editable install keeps them in another folder).
    Found by location, not by importing: the package is still being imported when this runs."""
    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    exporters = importlib.util.find_spec("tl_otel.exporters")
    folders = {package, *((exporters.submodule_search_locations or []) if exporters else [])}
    return tuple(sorted(os.path.abspath(folder) + os.sep for folder in folders))


OWN_DIRECTORIES = _own_directories()


class LocalRootLinker(SpanProcessor):
    def on_start(self, span: Any, parent_context: Any = None) -> None:
        try:
            parent = trace_api.get_current_span(parent_context)
            context = parent.get_span_context()
            if context.is_valid and not context.is_remote and parent.is_recording():
                setattr(span, _ROOT, getattr(parent, _ROOT, parent))
        except Exception:
            pass

    def on_end(self, span: Any) -> None:
        if not _ending:
            return
        try:
            ended_in_error = _ending.pop(span.context.span_id, None)
            if ended_in_error is not None:
                ended_in_error[0] = span.status.status_code is StatusCode.ERROR
        except Exception:
            return

    def shutdown(self) -> None:
        return None

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


def local_root(span: Any) -> Any:
    """The local root of ``span`` (the request or task it belongs to): itself when it is one."""
    return getattr(span, _ROOT, span)


def outcome_of_root(span: Any) -> list[bool]:
    """A one-item list shared by every exception recorded in the request or task of ``span``: set, when its
    local root ends, to whether it ended in error."""
    root = local_root(span)
    if getattr(root, "end_time", None) is not None:
        # The request already ended (a span that outlived it): its outcome is known, and no on_end would come
        # to remove an entry kept for it.
        return [root.status.status_code is StatusCode.ERROR]
    span_id = root.get_span_context().span_id
    ended_in_error = _ending.get(span_id)
    if ended_in_error is None:
        ended_in_error = [False]
        if len(_ending) < MAX_ENDING:
            _ending[span_id] = ended_in_error
    return ended_in_error


def is_local_root(span: Any) -> bool:
    """Whether ``span`` is a request's or task's own span (no local parent)."""
    return getattr(span, _ROOT, None) is None


def local_root_attributes(span: Any) -> dict[str, Any]:
    """``http.route`` / ``celery.task_name`` of the local root of ``span`` (when it is not the root itself)."""
    root = getattr(span, _ROOT, None)
    return {} if root is None else _route_or_task(root)


def request_attributes(span: Any) -> dict[str, Any]:
    """``http.route`` / ``celery.task_name`` of the request or task ``span`` belongs to (itself, or its local
    root): for an exception logged inside it."""
    try:
        if not span.is_recording():
            return {}
        return _route_or_task(getattr(span, _ROOT, span))
    except Exception:
        return {}


def _route_or_task(root: Any) -> dict[str, Any]:
    found: dict[str, Any] = {}
    attributes = getattr(root, "attributes", None) or {}
    route = attributes.get("http.route")
    if route:
        found["http.route"] = route
    task = attributes.get("celery.task_name")
    if not task and root.kind is SpanKind.CONSUMER and str(root.name).startswith("run/"):
        task = str(root.name)[len("run/"):]  # the Celery instrumentation names the run span at start
    if task:
        found["celery.task_name"] = task
    return found


def is_own_frame(filename: str) -> bool:
    """A frame of tl-otel's own code (never shown in an exception's stack)."""
    return filename.startswith(OWN_DIRECTORIES)


def application_stacktrace(exception: BaseException, start: Any = None,
                           callers: bool = True) -> tuple[str, int] | None:
    """The exception formatted as Python does, its stack extended outward with the frames that called the
    handling frame (unless ``callers`` is false) and without tl-otel's frames, and how many of its outermost
    frames are those callers (a backend that shows only the traceback, as Scout's Error Monitoring does, leaves
    them out: CALLER_FRAMES). ``start``: the frame to walk outward from (the caller's)."""
    tb = exception.__traceback__
    if tb is None:
        return None
    if not callers:
        return _without_own_frames(traceback.TracebackException.from_exception(exception)), 0
    in_traceback = set()
    walk = tb
    while walk is not None:
        in_traceback.add(walk.tb_frame)
        walk = walk.tb_next
    # The outermost frame on the current stack that the traceback already holds: callers start above it.
    frame = start if start is not None else sys._getframe(1)
    outermost = None
    while frame is not None:
        if frame in in_traceback:
            outermost = frame
        frame = frame.f_back
    above = (traceback.StackSummary.extract(traceback.walk_stack(outermost.f_back), limit=MAX_CALLER_FRAMES)
             if outermost is not None and outermost.f_back is not None else traceback.StackSummary())
    above.reverse()  # walk_stack goes outward; a traceback lists outermost first
    caller_count = sum(1 for frame in above if not is_own_frame(frame.filename))
    described = traceback.TracebackException.from_exception(exception)
    described.stack = traceback.StackSummary.from_list([*above, *described.stack])
    return _without_own_frames(described), caller_count


def _without_own_frames(described: traceback.TracebackException) -> str:
    chained, seen = [described], set()
    while chained:
        item = chained.pop()
        if id(item) in seen:
            continue
        seen.add(id(item))
        kept = [frame for frame in item.stack if not is_own_frame(frame.filename)]
        item.stack = traceback.StackSummary.from_list(kept)
        chained.extend(link for link in (item.__cause__, item.__context__) if link is not None)
    return "".join(described.format())
