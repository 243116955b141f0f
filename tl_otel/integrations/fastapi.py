"""Arguments the distro passes to individual instrumentors when the launcher loads them."""

from __future__ import annotations

import weakref
from typing import Any

from tl_otel.semantics.span_attributes import of_span

# Request headers Scout reads: the client address behind proxies and the queue-time stamps.
SCOUT_REQUEST_HEADERS = ["x-forwarded-for", "client-ip", "x-request-start", "x-queue-start"]


# app -> {(route template, method): endpoint name}: routes are templates (low cardinality), so the router's
# matching - a regex per route, per request - runs once per route and method. Only full matches are kept: for a
# 405 the instrumentation's route and Starlette's may be different partial matches (the answer is per path).
_endpoints: weakref.WeakKeyDictionary[Any, dict[tuple[str, Any], str | None]] = weakref.WeakKeyDictionary()
_MAX_CACHED_ENDPOINTS = 10_000


def record_endpoint(span: Any, scope: dict[str, Any]) -> None:
    """FastAPI server-request hook: put the endpoint function on the server span as
    ``code.function.name`` (``module.qualname``), found the way the FastAPI instrumentation finds the
    route (a full match, else the first route whose path matched: Starlette's router runs that one, which
    answers 405). Scout names a web request after it (``Controller/<module>.<qualname>``)."""
    try:
        if not span.is_recording() or scope.get("type") != "http":
            return
        route = of_span(span).get("http.route")
        known = _endpoints.get(scope["app"])
        key = (route, scope.get("method"))
        if known is not None and key in known:
            name = known[key]
        else:
            name, full = _endpoint_name(scope)
            if full and type(route) is str:
                if known is None:
                    known = _endpoints[scope["app"]] = {}
                if len(known) < _MAX_CACHED_ENDPOINTS:
                    known[key] = name
        if name is not None:
            span.set_attribute("code.function.name", name)
    except Exception:
        return


def _endpoint_name(scope: dict[str, Any]) -> tuple[str | None, bool]:
    """The endpoint's name, and whether it was a full match."""
    from opentelemetry.instrumentation.fastapi import _flatten_routes
    from starlette.routing import Match, Route

    partial, full = None, False
    for route in _flatten_routes(scope["app"].routes):
        match, _ = Route.matches(route, scope) if isinstance(route, Route) else route.matches(scope)
        if match == Match.FULL:
            partial, full = route, True
            break
        if match == Match.PARTIAL and partial is None:
            partial = route  # the path matched, not the method: Starlette's router hands it the 405
    endpoint = getattr(partial, "endpoint", None)
    return (f"{endpoint.__module__}.{endpoint.__qualname__}" if endpoint is not None else None), full


def instrumentor_kwargs(name: str, settings: Any, trace_exporters: list[str] | None = None) -> dict[str, Any]:
    kwargs: dict[str, Any] = {}
    if name == "fastapi":
        if not settings.asgi_message_spans:
            # One internal span per ASGI message costs several microseconds per request and carries
            # nothing a user reads; the server span already has status and timing.
            kwargs["exclude_spans"] = ["receive", "send"]
        if "scout" in (trace_exporters or ()):
            kwargs["server_request_hook"] = record_endpoint
            kwargs["http_capture_headers_server_request"] = _with_user_headers(SCOUT_REQUEST_HEADERS)
    return kwargs


def _with_user_headers(headers: list[str]) -> list[str]:
    """Passing the argument makes the instrumentation ignore OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SERVER_REQUEST,
    so the user's list is merged in rather than silently replaced."""
    import os

    from opentelemetry.util.http import OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SERVER_REQUEST as VARIABLE

    user = [item.strip() for item in os.environ.get(VARIABLE, "").split(",") if item.strip()]
    return [*headers, *(item for item in user if item.lower() not in headers)]
