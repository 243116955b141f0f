"""Is this span a request? The one answer PostHog (``api_request`` / ``worker_task``), Scout (one request per
local root) and alerting (request totals, latency, error rate) share.

- ``API_REQUEST``: a SERVER span of an HTTP request.
- ``TASK_RUN``: a Celery task run (CONSUMER, ``celery.action=run``).
- ``SESSION``: a SERVER span that is served but is not a request: a WebSocket session (ASGI ``websocket``
  scope: a ``ws``/``wss`` scheme and no method), or an HTTP route named in ``TL_OTEL_LONG_LIVED_ROUTES``
  (long polls, server-sent events, streams). Its length says how long a client stayed, not how fast the
  service answered, so it is no ``api_request``, no Scout request and no sample of the latency or error-rate
  rules. Exceptions inside it are still ``$exception`` events and ERROR JSON lines (those do not ask).
- ``None``: anything else (internal work, outgoing calls, a script's own spans).

The routes are set once by ``configure()`` (:func:`install`); the answer costs a few attribute reads and one
cached glob match per route template, because alerting asks on the application's thread."""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping, Sequence
from typing import Any

from opentelemetry.trace import SpanKind

from tl_otel.semantics.span_attributes import first, of_span

API_REQUEST = "api_request"
TASK_RUN = "task_run"
SESSION = "session"

_WEBSOCKET_SCHEMES = frozenset({"ws", "wss"})
_MAX_CACHED_ROUTES = 10_000


class RequestKinds:
    def __init__(self, long_lived_routes: Sequence[str] = ()) -> None:
        self.long_lived_routes = tuple(long_lived_routes)
        self._long_lived: dict[str, bool] = {}

    def _is_long_lived(self, route: str) -> bool:
        # Routes are templates (low cardinality): each is matched against the globs once.
        found = self._long_lived.get(route)
        if found is None:
            found = any(fnmatch.fnmatchcase(route, pattern) for pattern in self.long_lived_routes)
            if len(self._long_lived) < _MAX_CACHED_ROUTES:
                self._long_lived[route] = found
        return found

    def of(self, span: Any, attributes: Mapping[str, Any] | None = None) -> str | None:
        kind = span.kind
        if kind is SpanKind.SERVER:
            attributes = of_span(span) if attributes is None else attributes
            if (first(attributes, "http.request.method", "http.method") is None
                    and first(attributes, "url.scheme", "http.scheme") in _WEBSOCKET_SCHEMES):
                return SESSION
            if self.long_lived_routes:
                route = attributes.get("http.route")
                if route and self._is_long_lived(str(route)):
                    return SESSION
            return API_REQUEST
        if kind is SpanKind.CONSUMER:
            attributes = of_span(span) if attributes is None else attributes
            if attributes.get("celery.action") == "run":
                return TASK_RUN
        return None


_current = RequestKinds()


def install(kinds: RequestKinds) -> None:
    global _current
    _current = kinds


def current() -> RequestKinds:
    return _current


def kind_of(span: Any, attributes: Mapping[str, Any] | None = None) -> str | None:
    """:meth:`RequestKinds.of` with the routes ``configure()`` installed."""
    return _current.of(span, attributes)
