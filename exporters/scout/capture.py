"""What Scout needs from the application's thread, taken there and left on the span for the exporter.

Scout's own agent reads, on the thread that runs the request: the process's RSS when a request starts and
ends (request tag ``mem_delta``), the allocation counters when a span starts and stops (``allocations``),
and the call stack when a span ends slow or as an N+1 query (``stack``). Only this span processor does
that for tl-otel, and only for sampled spans of a request the Scout destination will receive (it is added
only when that destination is on). What it takes goes on the span; the Scout translation reads it:

- ``tl_otel.scout.mem_delta`` (root span, float MB ≥ 0) and ``tl_otel.scout.allocations.start`` /
  ``.stop`` (every span, ints, only with allocation tags on): hand-off values meaningful only to Scout;
  the JSON lines leave ``tl_otel.scout.*`` out;
- ``code.stacktrace`` (the semantic conventions' attribute, Python's own ``File "…", line N, in f`` lines,
  outermost first, application frames only): on a span slower than 0.5 s or on the call that makes a
  statement an N+1 candidate. It is kept in the JSON lines: that line is the one that says which code ran
  the slow call, and with library frames left out it is a few lines.

Cost on the application's thread per request: two RSS reads (``/proc/self/statm``, the file psutil reads
on Linux, kept open) and a few dict operations per span; a stack walk only for the rare slow or N+1 span.
"""

from __future__ import annotations

import os
import sys
import sysconfig
import threading
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor
from opentelemetry.trace import SpanKind, TraceFlags
from scout_apm.core.backtrace import LIMIT as STACK_LIMIT
from scout_apm.core.n_plus_one_tracker import NPlusOneTracker

from tl_otel.app_thread.exception_context import OWN_DIRECTORIES
from tl_otel.diagnostics.self_log import RateLimitedLog, logger
from tl_otel.exporters.scout.assembly import is_sent_to_scout
from tl_otel.exporters.scout.naming import SQL_SYSTEMS
from tl_otel.redaction import redactor as redaction
from tl_otel.semantics.span_attributes import of_span, set_after_end

MEM_DELTA = "tl_otel.scout.mem_delta"
ALLOCATIONS_START = "tl_otel.scout.allocations.start"
ALLOCATIONS_STOP = "tl_otel.scout.allocations.stop"
STACK = "code.stacktrace"

SLOW_SPAN_NS = 500_000_000  # scout_apm's Span.annotate: a backtrace for any span over 0.5 s
N_PLUS_ONE_CALLS = NPlusOneTracker.COUNT_THRESHOLD  # 5 calls of one statement in one request ...
N_PLUS_ONE_NS = int(NPlusOneTracker.DURATION_THRESHOLD * 1e9)  # ... taking 150 ms together
MAX_OPEN_REQUESTS = 10_000  # requests in flight at once; roots that never end must not grow it for good
_MB = 1024 * 1024
_SAMPLED = TraceFlags.SAMPLED  # the flag itself: TraceFlags.sampled is a slower property
_rate_limited = RateLimitedLog()


class RssReader:
    """The process's resident set size in MB, as psutil's ``memory_info().rss`` gives it (scout_apm's
    ``get_rss_in_mb``). On Linux it reads ``/proc/self/statm`` itself from a descriptor kept open (2 µs
    against psutil's 17 µs, measured on this project's machine); it reopens it in a forked child, where
    the inherited descriptor still names the parent."""

    def __init__(self) -> None:
        self._page = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
        self._fd: int | None = None
        self._open()
        if hasattr(os, "register_at_fork"):
            os.register_at_fork(after_in_child=self._open)

    def _open(self) -> None:
        try:
            self._fd = os.open("/proc/self/statm", os.O_RDONLY)
        except OSError:
            self._fd = None

    def mb(self) -> float:
        if self._fd is not None:
            try:
                return int(os.pread(self._fd, 64, 0).split(b" ", 2)[1]) * self._page / _MB
            except (OSError, ValueError, IndexError):
                self._fd = None
        import psutil

        return psutil.Process().memory_info().rss / _MB


_rss_reader: RssReader | None = None


def shared_rss_reader() -> RssReader:
    """One reader per process: one descriptor, one fork hook, however many processors are built."""
    global _rss_reader
    if _rss_reader is None:
        _rss_reader = RssReader()
    return _rss_reader


def _library_prefixes() -> tuple[str, ...]:
    """Frames under these paths are not the application's: installed packages (scout_apm's filter),
    the standard library, and tl-otel itself (which an editable install keeps outside site-packages)."""
    paths = sysconfig.get_paths()
    directories = {paths.get(name) for name in ("purelib", "platlib", "stdlib", "platstdlib")}
    directories |= set(OWN_DIRECTORIES)
    return (*sorted(directory.rstrip(os.sep) + os.sep for directory in directories if directory), "<frozen ")


_LIBRARY = _library_prefixes()


def application_stack() -> str:
    """The caller's stack as ``code.stacktrace`` text: the application's frames only (scout_apm's
    ``filter_frames`` intends that but tests the relative path, so its stacks keep library frames), at
    most scout_apm's 50, outermost first as Python prints them."""
    frames: list[str] = []
    frame = sys._getframe(1)
    while frame is not None and len(frames) < STACK_LIMIT:
        code = frame.f_code
        if not code.co_filename.startswith(_LIBRARY):
            frames.append(f'  File "{code.co_filename}", line {frame.f_lineno}, in {code.co_name}')
        frame = frame.f_back
    frames.reverse()
    return "\n".join(frames)


class _Request:
    __slots__ = ("root_span_id", "rss_start", "statements")

    def __init__(self, root_span_id: int, rss_start: float) -> None:
        self.root_span_id = root_span_id
        self.rss_start = rss_start
        # sanitized statement -> [calls, total ns, stack taken]
        self.statements: dict[str, list[Any]] = {}


def _sql_statement(attributes: Any) -> str | None:
    statement = attributes.get("db.statement") or attributes.get("db.query.text")
    if statement is None:
        return None
    system = attributes.get("db.system") or attributes.get("db.system.name")
    if system is not None and system not in SQL_SYSTEMS and str(system).lower() not in SQL_SYSTEMS:
        return None  # a Redis command or a MongoDB query: not SQL
    return str(statement)


class ScoutCaptureProcessor(SpanProcessor):
    """Added before the processor that hands spans to the destinations, so what it writes at a span's
    end is there when the Scout translation reads the span. Nothing raises into the application."""

    def __init__(self, allocations: bool = False) -> None:
        self.rss = shared_rss_reader()
        self._requests: dict[int, _Request] = {}
        self._sql_cache: dict[str, str] = {}
        self._counts = _allocation_counter() if allocations else None

    # -- hooks (application thread) -----------------------------------------------------------------
    def on_start(self, span: Span, parent_context: Any = None) -> None:
        try:
            parent = span.parent
            if parent is not None and not parent.is_remote:
                # Inside a local root: only the allocation counter is read at a span's start.
                if self._counts is not None and span.get_span_context().trace_id in self._requests:
                    span.set_attribute(ALLOCATIONS_START, self._counts())
                return
            kind = span.kind
            if kind is not SpanKind.SERVER and kind is not SpanKind.CONSUMER:
                return
            context = span.get_span_context()
            if not context.trace_flags & _SAMPLED:
                return  # the Scout destination only receives sampled traces
            if len(self._requests) >= MAX_OPEN_REQUESTS:
                self._forget_open_requests()
            self._requests[context.trace_id] = _Request(context.span_id, self.rss.mb())
            if self._counts is not None:
                span.set_attribute(ALLOCATIONS_START, self._counts())
        except Exception:
            return

    def on_end(self, span: ReadableSpan) -> None:
        try:
            context = span.context
            request = self._requests.get(context.trace_id)
            if request is None:
                return
            extra: dict[str, Any] | None = None
            if context.span_id == request.root_span_id:
                self._requests.pop(context.trace_id, None)
                if is_sent_to_scout(span):
                    extra = {MEM_DELTA: max(0.0, self.rss.mb() - request.rss_start)}
            else:
                attributes = of_span(span)
                duration = span.end_time - span.start_time
                statement = _sql_statement(attributes)
                if ((statement is not None and self._n_plus_one(request, attributes, statement, duration))
                        or duration > SLOW_SPAN_NS) and STACK not in attributes:
                    extra = {STACK: application_stack()}
            if self._counts is not None:
                extra = extra or {}
                extra[ALLOCATIONS_STOP] = self._counts()
            if extra:
                set_after_end(span, extra)
        except Exception:
            return

    def _forget_open_requests(self) -> None:
        """Root spans that never end (an application that starts spans and drops them) would otherwise
        fill the table for good; starting over costs the requests in flight their readings, once."""
        count = len(self._requests)
        self._requests.clear()
        _rate_limited.warning("scout-open-requests", "%d Scout requests were open at once (root spans that never "
                              "ended?); their memory and stack readings were dropped", count)

    def _n_plus_one(self, request: _Request, attributes: Any, raw: str, duration: int) -> bool:
        """scout_apm's NPlusOneTracker: the call that brings one statement to 5 calls and 150 ms in one
        request gets the stack, once per statement. Statements are grouped as tl-otel sends them
        (literals as ``?``), so ``WHERE id = 1`` and ``WHERE id = 2`` are one statement."""
        statement = self._sql_cache.get(raw)
        if statement is None:
            statement = redaction.current().scrub_sql(raw)
            if len(self._sql_cache) >= 1024:
                self._sql_cache.clear()
            self._sql_cache[raw] = statement
        item = request.statements.get(statement)
        if item is None:
            item = request.statements[statement] = [0, 0, False]
        elif item[2]:
            return False
        item[0] += int(attributes.get("db.operation.batch.size") or 1)
        item[1] += duration
        if item[0] >= N_PLUS_ONE_CALLS and item[1] >= N_PLUS_ONE_NS:
            item[2] = True
            return True
        return False

    def shutdown(self) -> None:
        return None

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


_objtrace_lock = threading.Lock()


def _allocation_counter() -> Any:
    """scout_apm's allocation counter (its ``_objtrace`` C extension, enabled process-wide once), or
    None with one warning when the extension is not there: then no allocation tags, as scout_apm."""
    from scout_apm.core import objtrace

    if not objtrace.is_extension:
        logger.warning("TL_OTEL_SCOUT_ALLOCATIONS is on, but scout_apm's _objtrace extension could not be "
                       "imported (no wheel for this platform?); Scout requests carry no allocation tags")
        return None
    with _objtrace_lock:
        objtrace.enable()
    get_counts = objtrace.get_counts

    def allocations() -> int:
        counts = get_counts()
        return counts[0] + counts[1] + counts[2]  # what scout_apm sums: malloc, calloc, realloc

    return allocations
