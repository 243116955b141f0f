"""``engine_run``: one engine execution as one span.

The span carries ``engine.id``, ``engine.status`` (``success``, ``failed`` or ``cancelled``) and, on
failure, ``error.type``; its duration is the execution's. Exporters turn it into the seed's
``engine_executed`` / ``engine_failed``, or ``engine_cancelled``. The application's exception always
propagates unchanged, even when recording it fails (an exception whose ``__str__`` raises would otherwise be
replaced by a RuntimeError).

- A cancellation (``asyncio.CancelledError``, or ``GeneratorExit`` when a generator holding the run is
  closed early) is not an error: status ``cancelled``, no error status, no exception event.
- One object may be entered by several threads or asyncio tasks at once, or re-entered: each ``with`` is its
  own run. What ``__exit__`` needs is kept in a context variable, never on the object.
- Generator functions are refused at decoration time: the wrapper would return the generator object at once,
  so the run would end before the body ran (0 ms, ``success``, whatever the body did)."""

from __future__ import annotations

import functools
import inspect
import sys
import traceback
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, suppress
from contextvars import ContextVar
from typing import Any, TypeVar

from opentelemetry import trace
from opentelemetry.trace import Span, Status, StatusCode

from tl_otel.semantics.safe_values import safe_str, to_jsonable

SPAN_NAME = "engine.run"
ATTR_ID = "engine.id"
ATTR_STATUS = "engine.status"
STATUS_SUCCESS = "success"
STATUS_FAILED = "failed"
STATUS_CANCELLED = "cancelled"

_tracer = trace.get_tracer("tl_otel.app_thread.engine")
F = TypeVar("F", bound=Callable[..., Any])

# The runs entered and not yet exited in this context, innermost last, with the object that opened each.
# A tuple, replaced on every change, so a thread or asyncio task never sees another's runs.
_open_runs: ContextVar[tuple[tuple[Any, AbstractContextManager[Span]], ...]] = ContextVar(
    "tl_otel_engine_runs", default=())


def _attribute_value(value: Any) -> Any:
    if isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, (list, tuple)) and all(isinstance(item, (str, bool, int, float)) for item in value):
        return list(value)
    return safe_str(to_jsonable(value))


def _is_cancellation(exc: BaseException) -> bool:
    if isinstance(exc, GeneratorExit):
        return True
    # Without asyncio loaded the exception cannot be asyncio's; looking it up avoids importing asyncio.
    asyncio = sys.modules.get("asyncio")
    return asyncio is not None and isinstance(exc, asyncio.CancelledError)


def _record_failure(span: Span, exc: BaseException) -> None:
    try:
        span.set_attribute(ATTR_STATUS, STATUS_FAILED)
        span.set_attribute("error.type", type(exc).__qualname__)
        message = safe_str(exc)
        span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {message}"))
    except Exception:
        return
    try:
        span.record_exception(exc, attributes={"exception.message": message}, escaped=True)
    except Exception:
        # The SDK calls str(exc) itself; record the event by hand when that raises.
        try:
            stack = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        except Exception:
            stack = ""
        with suppress(Exception):
            span.add_event("exception", {
                "exception.type": type(exc).__name__,
                "exception.message": message,
                "exception.stacktrace": stack,
                "exception.escaped": "True",
            })


class _EngineRun:
    """Context manager and decorator; built by :func:`engine_run`."""

    def __init__(self, engine_id: str, attributes: dict[str, Any]) -> None:
        self.engine_id = engine_id
        self.attributes = attributes

    @contextmanager
    def _span(self) -> Iterator[Span]:
        try:
            attributes = {key: _attribute_value(value) for key, value in self.attributes.items()}
            attributes[ATTR_ID] = safe_str(self.engine_id)
            manager = _tracer.start_as_current_span(
                SPAN_NAME, attributes=attributes, record_exception=False, set_status_on_exception=False
            )
            span = manager.__enter__()
        except Exception:
            manager, span = None, trace.INVALID_SPAN
        try:
            yield span
        except BaseException as exc:
            if _is_cancellation(exc):
                with suppress(Exception):
                    span.set_attribute(ATTR_STATUS, STATUS_CANCELLED)
            else:
                _record_failure(span, exc)
            if manager is not None:
                with suppress(Exception):
                    manager.__exit__(None, None, None)
            raise
        else:
            try:
                span.set_attribute(ATTR_STATUS, STATUS_SUCCESS)
                if manager is not None:
                    manager.__exit__(None, None, None)
            except Exception:
                pass

    def __enter__(self) -> Span:
        run = self._span()
        span = run.__enter__()
        _open_runs.set((*_open_runs.get(), (self, run)))
        return span

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> bool:
        runs = _open_runs.get()
        # The innermost run of this object in this context: a thread or task sees only its own runs.
        for index in range(len(runs) - 1, -1, -1):
            owner, run = runs[index]
            if owner is self:
                _open_runs.set(runs[:index] + runs[index + 1:])
                return bool(run.__exit__(exc_type, exc, tb))
        return False

    def __call__(self, func: F) -> F:
        if inspect.isgeneratorfunction(func) or inspect.isasyncgenfunction(func):
            name = getattr(func, "__qualname__", repr(func))
            raise TypeError(
                f"engine_run({self.engine_id!r}) cannot decorate the generator function {name}: calling it only "
                "creates the generator, so the run would end before its body runs. Wrap the code that consumes "
                f"it instead: `with tl_otel.engine_run({self.engine_id!r}): for item in {name}(...): ...`")
        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                with self._span():
                    return await func(*args, **kwargs)

            return async_wrapper  # type: ignore[return-value]

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with self._span():
                return func(*args, **kwargs)

        return wrapper  # type: ignore[return-value]


def engine_run(engine_id: str, **attributes: Any) -> _EngineRun:
    """Wrap one engine execution in a span::

        with tl_otel.engine_run("engine-123", input_size=3):
            run_engine()

        @tl_otel.engine_run("engine-123")
        def run_engine(): ...

    The object may be kept and entered by many threads or tasks at once; generator functions cannot be
    decorated (TypeError); a cancellation is recorded as ``cancelled``, not as a failure (docs/engine-runs.md).
    """
    return _EngineRun(engine_id, attributes)
