"""A failed request or task run → one problem for Scout's errors service, in the shape of scout_apm's
``ErrorMonitor.send`` (docs/scout.md, "Error Monitoring", has the field-by-field table).

The one place that decides: a local root that is a Scout request (an API request or a Celery task run),
that failed (a task whose outcome is ``failure``, so a retried attempt is not one; a request whose span
ended in error or answered 5xx) and that carries the exception that ended it (its last ``exception``
event). One root gives at most one problem, so one failure is never sent twice. Everything read here has
already passed tl-otel's redaction step; parameters are filtered again with scout_apm's own
``filter_element``, as its integrations do."""

from __future__ import annotations

import re
import sys
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from opentelemetry.trace import SpanKind
from scout_apm.core.web_requests import filter_element

from tl_otel.app_thread.exception_context import CALLER_FRAMES, is_own_frame
from tl_otel.exporters.posthog.exceptions import split_type
from tl_otel.exporters.scout.commands import scout_request_id, tag_value
from tl_otel.exporters.scout.naming import request_tags
from tl_otel.integrations.celery import FAILURE, task_run_outcome
from tl_otel.pipeline.span_record import (
    EVENT_ATTRIBUTES,
    EVENT_NAME,
    EVENTS,
    PARENT_IS_REMOTE,
    PARENT_SPAN_ID,
    REQUEST_KIND,
    SpanRecord,
)
from tl_otel.redaction import MARKER
from tl_otel.semantics.request_kinds import API_REQUEST, TASK_RUN
from tl_otel.semantics.span_attributes import first

_FRAME = re.compile(r'^  File "([^"]+)", line (\d+), in (.+)$', re.MULTILINE)
# The lines Python prints between the blocks of an exception chain; the last block is the exception itself.
_CHAIN = re.compile(r"^(?:The above exception was the direct cause of the following exception:|"
                    r"During handling of the above exception, another exception occurred:)$", re.MULTILINE)
MAX_TRACE_FRAMES = 50  # scout_apm's backtrace.LIMIT: the outermost 50 frames, then innermost first
SCOUT_FILTERED = "[FILTERED]"


@dataclass
class ProblemStats:
    problems: int = 0
    ignored: int = 0  # failures whose exception is in SCOUT_ERRORS_IGNORED_EXCEPTIONS
    without_exception: int = 0  # failed (e.g. a 500 the route returned) with no exception recorded
    by_class: dict[str, int] = field(default_factory=dict)


def is_candidate(record: tuple[Any, ...]) -> bool:
    """Cheap first look on the dispatcher thread: a request or task run root with an event recorded."""
    return (bool(record[EVENTS]) and record[REQUEST_KIND] in (API_REQUEST, TASK_RUN)
            and (record[PARENT_SPAN_ID] is None or record[PARENT_IS_REMOTE]))


def _ended_in_failure(span: SpanRecord, attributes: Mapping[str, Any]) -> bool:
    if span.request_kind == TASK_RUN:
        return task_run_outcome(attributes, span.status_code) == FAILURE
    status = first(attributes, "http.response.status_code", "http.status_code")
    return span.failed or (isinstance(status, int) and status >= 500)


def _last_exception(span: SpanRecord) -> Mapping[str, Any] | None:
    for event in reversed(span.events):
        if event[EVENT_NAME] == "exception":
            return event[EVENT_ATTRIBUTES] or {}
    return None


def relative_file(path: str, roots: tuple[str, ...]) -> str:
    """A frame's file as scout_apm names it (relative to the folder its top-level package sits in): the
    path under the longest import root that holds it, else the path as recorded."""
    for root in roots:
        if path.startswith(root):
            return path[len(root):]
    return path


def import_roots() -> tuple[str, ...]:
    """This process's import roots, longest first, each ending in a separator."""
    roots = {entry.rstrip("/") + "/" for entry in sys.path if entry and entry.startswith("/")}
    return tuple(sorted(roots, key=len, reverse=True))


def exception_names(exc_type: str) -> set[str]:
    """The recorded class and, when its module is loaded in this process, every class it derives from
    (qualified and short names): an ignored exception covers its subclasses, as scout_apm's isinstance
    does. Nothing is imported for this."""
    module, name = split_type(exc_type)
    names = {exc_type, name}
    cls = getattr(sys.modules.get(module or "builtins"), name, None)
    if isinstance(cls, type):
        for base in cls.__mro__:
            names.update((base.__name__, f"{base.__module__}.{base.__qualname__}"))
    return names


def query_params(attributes: Mapping[str, Any]) -> dict[str, list[str]] | None:
    """The query string as a name → values dict (Flask's ``request.args.lists()``); values tl-otel's
    redaction replaced show scout_apm's own marker."""
    query = attributes.get("url.query")
    for name in ("http.target", "http.url", "url.full"):
        if query:
            break
        query = urlsplit(str(attributes.get(name) or "")).query
    if not query:
        return None
    params: dict[str, list[str]] = {}
    for key, value in parse_qsl(str(query), keep_blank_values=True):
        params.setdefault(key, []).append(SCOUT_FILTERED if value == MARKER else value)
    return params


def request_path(attributes: Mapping[str, Any]) -> str | None:
    path = attributes.get("url.path") or urlsplit(str(first(attributes, "http.target", "http.url") or "")).path
    return str(path) if path else None


def request_components(span: SpanRecord, attributes: Mapping[str, Any]) -> dict[str, Any]:
    """scout_apm's Celery integration: the task name as controller. For a web request (scout_apm's Flask
    integration, as its Starlette one sends no problems): the endpoint's module, its name and the method."""
    if span.kind is SpanKind.CONSUMER:
        task = first(attributes, "celery.task_name") or span.name.split("/", 1)[-1]
        return {"module": None, "controller": str(task), "action": None}
    endpoint = str(attributes.get("code.function.name") or "")
    module, _, function = endpoint.rpartition(".")
    method = first(attributes, "http.request.method", "http.method")
    return {"module": module or None, "controller": function or None, "action": str(method) if method else None}


class ProblemBuilder:
    def __init__(self, *, hostname: str | None, revision_sha: str, ignored: Collection[str] = (),
                 roots: tuple[str, ...] | None = None) -> None:
        self.hostname = hostname
        self.revision_sha = revision_sha
        self.ignored = frozenset(ignored)
        self.roots = import_roots() if roots is None else roots
        self.stats = ProblemStats()

    def problem(self, span: SpanRecord) -> dict[str, Any] | None:
        """The problem for one finished local root, or None when it is not a failure with an exception."""
        if not span.is_local_root or span.request_kind not in (API_REQUEST, TASK_RUN):
            return None
        attributes = span.attributes
        if not _ended_in_failure(span, attributes):
            return None
        exception = _last_exception(span)
        if exception is None:
            self.stats.without_exception += 1
            return None
        exc_type = str(exception.get("exception.type") or "Exception")
        if self.ignored and not self.ignored.isdisjoint(exception_names(exc_type)):
            self.stats.ignored += 1
            return None
        request_id = scout_request_id(span.trace_id, span.span_id)
        context: dict[str, Any] = {tag: tag_value(value) for tag, value in request_tags(span, attributes).items()}
        context["transaction_id"] = request_id
        params = None
        path = None
        if span.kind is SpanKind.SERVER:
            path = request_path(attributes)
            params = query_params(attributes)
        else:
            task_id = attributes.get("messaging.message.id")
            # scout_apm adds the task's args and kwargs too; spans do not carry them (they may hold secrets).
            context["custom_params"] = {"celery": {"task_id": task_id, "args": None, "kwargs": None}}
        class_name = split_type(exc_type)[1]
        self.stats.problems += 1
        self.stats.by_class[class_name] = self.stats.by_class.get(class_name, 0) + 1
        return {
            "exception_class": class_name,
            "message": str(exception.get("exception.message") or ""),
            "request_id": request_id,
            "request_uri": path,
            "request_params": filter_element("", params) if params else None,
            "request_session": None,
            "environment": None,
            "trace": self.trace(str(exception.get("exception.stacktrace") or ""), exception.get(CALLER_FRAMES)),
            "request_components": request_components(span, attributes),
            "context": context,
            "host": self.hostname,
            "revision_sha": self.revision_sha,
        }

    def trace(self, stacktrace: str, caller_frames: Any = 0) -> list[str]:
        """``file:line:in function`` lines of the exception's own traceback (not its causes, not the callers
        tl-otel adds above it: scout_apm walks the traceback only), innermost first."""
        if not stacktrace:
            return []
        skip = caller_frames if isinstance(caller_frames, int) and caller_frames > 0 else 0
        last_block = _CHAIN.split(stacktrace)[-1]
        frames = [(path, line, function) for path, line, function in _FRAME.findall(last_block)
                  if not is_own_frame(path)][skip:skip + MAX_TRACE_FRAMES]
        return [f"{relative_file(path, self.roots)}:{line}:in {function}" for path, line, function in reversed(frames)]
