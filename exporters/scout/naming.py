"""Scout's vocabulary for OTel spans: operation names, span tags and request tags, as Scout's own Python
agent produces them (docs/scout.md, "Span → Scout mapping", has the table)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from opentelemetry.trace import SpanKind
from scout_apm.core.queue_time import _convert_ambiguous_timestamp_to_ns
from scout_apm.core.web_requests import create_filtered_path

from tl_otel.pipeline.span_record import SpanRecord
from tl_otel.redaction import MARKER
from tl_otel.semantics.span_attributes import first
from tl_otel.semantics.span_names import without_query

SQL_SYSTEMS = frozenset({
    "sqlite", "postgresql", "mysql", "mariadb", "mssql", "oracle", "db2", "cockroachdb", "h2", "hsqldb",
    "redshift", "snowflake", "sqlserver", "trino", "clickhouse", "other_sql",
})
ASGI_MESSAGE_SUFFIXES = (" http send", " http receive", " websocket send", " websocket receive")


def is_noise_span(span: Any) -> bool:
    """Spans Scout's agent has no equivalent of: ASGI per-message spans and SQLAlchemy's pool
    ``connect`` spans. They are left out and their children attached to the nearest kept ancestor."""
    if span.kind is SpanKind.INTERNAL and span.name.endswith(ASGI_MESSAGE_SUFFIXES):
        return True
    if span.name == "connect":
        attributes = span.attributes or {}
        return ("db.system" in attributes or "db.system.name" in attributes) and not (
            "db.statement" in attributes or "db.query.text" in attributes)
    return False


# -- operations ---------------------------------------------------------------------------------------
def root_operation(span: Any, attributes: Mapping[str, Any]) -> str:
    if span.kind is SpanKind.CONSUMER:
        return "Job/" + str(first(attributes, "celery.task_name") or span.name.split("/", 1)[-1])
    endpoint = attributes.get("code.function.name")
    if endpoint:
        return f"Controller/{endpoint}"  # the name Scout's Starlette integration gives the same endpoint
    method = first(attributes, "http.request.method", "http.method") or "GET"
    route = attributes.get("http.route")
    # No route: the span is named after its raw target; the query string stays out of the operation name.
    return f"Controller/{method} {route}" if route else f"Controller/{without_query(span.name)}"


def span_operation(span: Any, attributes: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """(operation, span tags) for a descendant span."""
    system = first(attributes, "db.system.name", "db.system")
    statement = first(attributes, "db.query.text", "db.statement")
    if system is not None:
        system = str(system).lower()
        if system == "redis":
            command = str(statement or span.name).split(" ", 1)[0].upper() or "Unknown"
            return f"Redis/{command}", {}
        if system == "mongodb":
            collection = first(attributes, "db.collection.name", "db.mongodb.collection") or "Unknown"
            operation = first(attributes, "db.operation.name", "db.operation") or "Unknown"
            return f"MongoDB/{collection}.{str(operation)[:1].upper()}{str(operation)[1:]}", {"name": collection}
        if system in SQL_SYSTEMS or statement is not None:
            batch = first(attributes, "db.operation.batch.size")
            tags = {"db.statement": str(statement)} if statement is not None else {}
            return ("SQL/Many" if batch else "SQL/Query"), tags
    method = first(attributes, "http.request.method", "http.method")
    if span.kind is SpanKind.CLIENT and method is not None:
        return f"HTTP/{str(method).upper()}", {"url": base_url(first(attributes, "url.full", "http.url"))}
    template = first(attributes, "jinja2.template_name", "template.name")
    if template is not None or span.name.startswith(("jinja2.render", "Template/")):
        return "Template/Render", ({"name": str(template)} if template is not None else {})
    return f"Custom/{without_query(span.name)}", {}


def base_url(url: Any) -> str | None:
    """Scout's urllib3 integration reports the connection pool's base URL only (no path, no query)."""
    if not url:
        return None
    parts = urlsplit(str(url))
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return f"{parts.scheme}://{netloc}/"


# -- request tags -------------------------------------------------------------------------------------
def filtered_path(target: Any) -> str | None:
    """``path`` as Scout sends it (Scout's own filter: query sorted, sensitive values ``[FILTERED]``)."""
    if not target:
        return None
    parts = urlsplit(str(target))
    # tl-otel's redaction step has already replaced sensitive values with REDACTED (the semantic
    # conventions' marker); Scout's UI shows its own agent's marker, so the path carries that one.
    query = [(key, "[FILTERED]" if value == MARKER else value) for key, value in parse_qsl(parts.query)]
    return create_filtered_path(parts.path, query)


def _header(attributes: Mapping[str, Any], name: str) -> str | None:
    value = attributes.get(f"http.request.header.{name}")
    if isinstance(value, (list, tuple)):
        value = value[0] if value else None
    return str(value) if value else None


def user_ip(attributes: Mapping[str, Any]) -> str | None:
    forwarded = _header(attributes, "x_forwarded_for") or _header(attributes, "client_ip")
    if forwarded:
        return forwarded.split(",")[0].strip()
    peer = first(attributes, "client.address", "net.peer.ip")
    return str(peer) if peer else None


def queue_time_ns(attributes: Mapping[str, Any], request_start_ns: int) -> int | None:
    """``scout.queue_time_ns`` from X-Queue-Start / X-Request-Start, computed as Scout computes it."""
    raw = _header(attributes, "x_queue_start") or _header(attributes, "x_request_start")
    if not raw:
        return None
    raw = raw[2:] if raw.startswith("t=") else raw
    if not raw[:1].isdigit():
        return None
    try:
        start_ns = _convert_ambiguous_timestamp_to_ns(float(raw))
    except ValueError:
        return None
    if start_ns == 0.0 or start_ns > request_start_ns:
        return None
    return int(request_start_ns - start_ns)


def request_tags(span: SpanRecord, attributes: Mapping[str, Any]) -> dict[str, Any]:
    tags: dict[str, Any] = {}
    if span.kind is SpanKind.SERVER:
        target = str(first(attributes, "http.target", "url.path") or "")
        if target and "?" not in target:
            # The ASGI instrumentation keeps the query string out of http.target: it is in url.query
            # (stable semantic conventions) or in the full http.url.
            query = attributes.get("url.query") or urlsplit(str(attributes.get("http.url") or "")).query
            if query:
                target = f"{target}?{query}"
        path = filtered_path(target)
        if path:
            tags["path"] = path
        ip = user_ip(attributes)
        if ip:
            tags["user_ip"] = ip
        queued = queue_time_ns(attributes, span.start_time or 0)
        if queued is not None:
            tags["scout.queue_time_ns"] = queued
        status = first(attributes, "http.response.status_code", "http.status_code")
        failed = (isinstance(status, int) and status >= 500) or span.failed
    else:
        task_id = attributes.get("messaging.message.id")
        if task_id:
            tags["task_id"] = task_id
        tags["queue"] = first(attributes, "messaging.destination", "messaging.destination.name") or "unknown"
        failed = span.failed
    if failed:
        tags["error"] = "true"
    return tags
