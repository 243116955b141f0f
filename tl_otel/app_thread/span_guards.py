"""Guards around the SDK span methods that raise into application code.

Measured with the installed SDK (docs/security.md, "Bad input never reaches the application"):
``set_attribute``/``add_event`` with a circular or 100,000-deep value raise ``RecursionError``, an object whose
``__str__`` raises or a broken mapping raise its error, and an exception whose ``__str__`` raises turns into
``RuntimeError`` when a span records it - the application then sees that instead of its own exception (``use_span``
and ``Span.__exit__`` format the status with ``f"{exc}"``). Each guarded method first runs the SDK's own code; only
when that raises does tl-otel keep a safe string instead (or drop the value), count it, and warn once in a while."""

from __future__ import annotations

import sys
import traceback
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from typing import Any

from opentelemetry import context as context_api
from opentelemetry import trace as trace_api
from opentelemetry.sdk import trace as sdk_trace
from opentelemetry.trace.status import Status, StatusCode

from tl_otel.app_thread import exception_origin
from tl_otel.app_thread.exception_context import CALLER_FRAMES
from tl_otel.diagnostics.self_log import RateLimitedLog
from tl_otel.semantics.safe_values import safe_str, truncate

_rate_limited = RateLimitedLog()
_MAX_FALLBACK_LENGTH = 4096
guarded_errors = 0
_installed = False


def _count(where: str, exc: BaseException) -> None:
    global guarded_errors
    guarded_errors += 1
    _rate_limited.warning(f"guard-{where}", "%s could not record a value (%s); kept it as text or left it out, and "
                          "the application continues (%d so far)", where, type(exc).__name__, guarded_errors)


def _fallback(value: Any) -> str:
    return truncate(safe_str(value), _MAX_FALLBACK_LENGTH)


def _safe_mapping(attributes: Any) -> dict[str, Any]:
    try:
        items = list(attributes.items())
    except Exception:
        return {}
    return {safe_str(key): value for key, value in items}


def _exception_attributes(exception: BaseException, escaped: bool) -> dict[str, Any]:
    kind = type(exception)
    module, qualname = kind.__module__, kind.__qualname__
    try:
        stacktrace = "".join(traceback.format_exception(exception))
    except Exception:
        stacktrace = "".join(traceback.format_tb(exception.__traceback__)) + f"{qualname}: <unprintable>\n"
    return {"exception.type": f"{module}.{qualname}" if module and module != "builtins" else qualname,
            "exception.message": _fallback(exception), "exception.stacktrace": stacktrace,
            "exception.escaped": str(escaped)}


def _with_context(span: Any, exception: BaseException, attributes: Any) -> Any:
    """The application's frames and the local root's route or task (tl_otel.app_thread.exception_context); the
    caller's own attributes win."""
    try:
        from tl_otel.app_thread.exception_context import (
            application_stacktrace,
            is_local_root,
            local_root_attributes,
        )

        added: dict[str, Any] = local_root_attributes(span)
        # Only a span inside the request (an outgoing call's) gets the frames that called it: the request's own
        # span records an exception whose traceback already starts at the request's entry, and what called that
        # is the server's loop and the script that started it, not where the exception happened.
        extended = application_stacktrace(exception, sys._getframe(2), callers=not is_local_root(span))
        if extended:
            added["exception.stacktrace"], added[CALLER_FRAMES] = extended
    except Exception:
        return attributes
    if attributes:
        given = _safe_mapping(attributes)
        if "exception.stacktrace" in given and CALLER_FRAMES not in given:
            added.pop(CALLER_FRAMES, None)  # the count described our stack trace, not the caller's own
        added.update(given)
    return added


def _description(exception: BaseException) -> str:
    return f"{type(exception).__name__}: {safe_str(exception)}"


def install() -> None:
    """Idempotent; patches the SDK's Span class and the API's ``use_span`` (the SDK's Tracer looks it up
    on the module at each call)."""
    global _installed
    if _installed:
        return
    _installed = True
    span_class = sdk_trace.Span
    original_set_attribute = span_class.set_attribute
    original_set_attributes = span_class.set_attributes
    original_add_event = span_class.add_event
    original_record_exception = span_class.record_exception

    def set_attribute(self: Any, key: str, value: Any) -> None:
        try:
            original_set_attribute(self, key, value)
        except Exception as exc:
            _count("span.set_attribute", exc)
            with suppress(Exception):
                original_set_attribute(self, safe_str(key), _fallback(value))

    def set_attributes(self: Any, attributes: Mapping[str, Any]) -> None:
        try:
            original_set_attributes(self, attributes)
        except Exception as exc:
            _count("span.set_attributes", exc)
            for key, value in _safe_mapping(attributes).items():
                set_attribute(self, key, value)

    def add_event(self: Any, name: str, attributes: Any = None, timestamp: int | None = None) -> None:
        try:
            original_add_event(self, name, attributes, timestamp)
        except Exception as exc:
            _count("span.add_event", exc)
            cleaned = {key: value if isinstance(value, (str, bool, int, float)) else _fallback(value)
                       for key, value in _safe_mapping(attributes or {}).items()}
            with suppress(Exception):
                original_add_event(self, safe_str(name), cleaned, timestamp)

    def record_exception(self: Any, exception: BaseException, attributes: Any = None, timestamp: int | None = None,
                         escaped: bool = False) -> None:
        exception_origin.remember(exception, self)
        try:
            attributes = _with_context(self, exception, attributes)
            original_record_exception(self, exception, attributes, timestamp, escaped)
        except Exception as exc:
            _count("span.record_exception", exc)
            event = _exception_attributes(exception, escaped)
            event.update(_safe_mapping(attributes or {}))
            add_event(self, "exception", event, timestamp)

    def __exit__(self: Any, exc_type: Any, exc_val: BaseException | None, exc_tb: Any) -> None:
        try:
            if exc_val is not None and self.is_recording():
                if self._record_exception:
                    record_exception(self, exc_val, escaped=True)
                if self._set_status_on_exception:
                    self.set_status(Status(StatusCode.ERROR, _description(exc_val)))
        except Exception as exc:
            _count("span.__exit__", exc)
        trace_api.Span.__exit__(self, exc_type, exc_val, exc_tb)

    _guard_fastapi_exception_middleware()
    _guard_celery_failure_handler()
    span_class.set_attribute = set_attribute
    span_class.set_attributes = set_attributes
    span_class.add_event = add_event
    span_class.record_exception = record_exception
    span_class.__exit__ = __exit__
    trace_api.use_span = use_span


class _SafeErrorSpan:
    """What the FastAPI instrumentation's exception middleware gets from ``get_current_span()``: the real
    span, except that when the exception being handled cannot be printed, ``is_recording()`` records it
    safely itself and answers False - the middleware would otherwise evaluate ``f"{exc}"`` and replace the
    application's exception with the one its ``__str__`` raises."""

    def __init__(self, span: Any) -> None:
        self._span = span

    def __getattr__(self, name: str) -> Any:
        return getattr(self._span, name)

    def is_recording(self) -> bool:
        recording = self._span.is_recording()
        exc = sys.exc_info()[1]
        if not recording or exc is None:
            return recording
        try:
            str(exc)
            return True
        except Exception:
            self._span.record_exception(exc)
            self._span.set_status(Status(StatusCode.ERROR, _description(exc)))
            return False


def _guard_fastapi_exception_middleware() -> None:
    try:
        from opentelemetry.instrumentation import fastapi as fastapi_instrumentation
    except Exception:
        return
    original = getattr(fastapi_instrumentation, "get_current_span", None)
    if original is None:
        return

    def get_current_span(*args: Any, **kwargs: Any) -> Any:
        return _SafeErrorSpan(original(*args, **kwargs))

    fastapi_instrumentation.get_current_span = get_current_span


def _guard_celery_failure_handler() -> None:
    """The Celery instrumentation's task_failure handler computes ``str(exception)`` before recording it:
    with a broken ``__str__`` the failed task's span keeps no error status and Celery logs the handler's
    crash. The guarded handler falls back to a safe description (the handler is connected when the
    instrumentor runs, after this)."""
    try:
        from opentelemetry.instrumentation.celery import CeleryInstrumentor, utils
    except Exception:
        return
    original = CeleryInstrumentor.__dict__.get("_trace_failure")
    if not isinstance(original, staticmethod):
        return
    original_function = original.__func__

    def _trace_failure(*args: Any, **kwargs: Any) -> None:
        try:
            original_function(*args, **kwargs)
        except Exception as exc:
            _count("celery task_failure", exc)
            try:
                task = utils.retrieve_task_from_sender(kwargs)
                context = utils.retrieve_context(task, utils.retrieve_task_id(kwargs))
                exception = kwargs.get("exception")
                if context is not None and isinstance(exception, BaseException):
                    span = context[0]
                    span.record_exception(exception)
                    span.set_status(Status(StatusCode.ERROR, _description(exception)))
            except Exception:
                pass

    CeleryInstrumentor._trace_failure = staticmethod(_trace_failure)


@contextmanager
def use_span(span: trace_api.Span, end_on_exit: bool = False, record_exception: bool = True,
             set_status_on_exception: bool = True) -> Iterator[trace_api.Span]:
    """``opentelemetry.trace.use_span`` with the exception's text formatted safely: the application's
    exception is re-raised as it was, whatever its ``__str__`` does."""
    try:
        token = context_api.attach(context_api.set_value(trace_api._SPAN_KEY, span))
        try:
            yield span
        finally:
            context_api.detach(token)
    except Exception as exc:
        try:
            if isinstance(span, trace_api.Span) and span.is_recording():
                if record_exception:
                    span.record_exception(exc)
                if set_status_on_exception:
                    span.set_status(Status(StatusCode.ERROR, _description(exc)))
        except Exception as guard_exc:
            _count("use_span", guard_exc)
        raise
    finally:
        if end_on_exit:
            span.end()
