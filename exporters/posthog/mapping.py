"""Spans → PostHog events: the seed's business events, ``$exception`` and users' own rules.

| span | event |
| --- | --- |
| an API request (``semantics.request_kinds``: SERVER, not a WebSocket session or long-lived route) | ``api_request`` |
| a Celery task run (CONSUMER, ``celery.action=run``) | ``worker_task`` (status success / retry / failure) |
| ``engine.run`` (``tl_otel.engine_run``) | ``engine_executed`` / ``engine_failed`` / ``engine_cancelled`` |
| ``exception`` event on any span | ``$exception`` (one per occurrence) |
| a user rule's match | the rule's event |
| anything else | nothing |
"""

from __future__ import annotations

import fnmatch
import hashlib
import math
import uuid
import zlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from tl_otel.exporters.iso_time import isoformat_utc
from tl_otel.exporters.posthog.exceptions import SeenOccurrences, exception_list, occurrence_key
from tl_otel.integrations.celery import task_run_outcome
from tl_otel.pipeline.span_record import EVENT_ATTRIBUTES, EVENT_NAME, EVENT_TIME, SpanRecord, views
from tl_otel.semantics.request_kinds import API_REQUEST, TASK_RUN
from tl_otel.semantics.safe_values import to_jsonable
from tl_otel.semantics.span_attributes import first
from tl_otel.semantics.span_names import without_query


class SpanIds(Protocol):
    """What an event needs of what it comes from: a span record, or a log record's ids."""

    @property
    def trace_id(self) -> int: ...
    @property
    def trace_hex(self) -> str: ...
    @property
    def span_hex(self) -> str: ...
    @property
    def name(self) -> str | None: ...
    @property
    def end_time(self) -> int: ...
    @property
    def failed(self) -> bool: ...


_NAMESPACE = uuid.UUID("6f1d7c1e-3c52-4c55-9a53-6f4b0a3a7e21")
MAX_PROPERTY_LENGTH = 8192


@dataclass(frozen=True)
class MappingOptions:
    service: str
    distinct_id_attributes: tuple[str, ...]
    excluded_routes: tuple[str, ...]
    api_request_sample_rate: float
    rules: tuple[Mapping[str, Any], ...]
    lib_version: str


def event_uuid(trace_hex: str, span_hex: str, event: str, extra: str = "") -> str:
    """The same span gives the same uuid on every re-send, so PostHog can recognise a retry.

    A name-based UUID (version 5 layout) over a BLAKE2 digest: deterministic like uuid5, several times
    cheaper than building it through the uuid module."""
    digest = hashlib.blake2b(f"{trace_hex}{span_hex}{event}{extra}".encode(), digest_size=16,
                             key=_NAMESPACE.bytes).hexdigest()
    variant = "89ab"[int(digest[16], 16) & 3]
    return f"{digest[:8]}-{digest[8:12]}-5{digest[13:16]}-{variant}{digest[17:20]}-{digest[20:32]}"


_PLAIN = (str, int, float, bool, type(None))


def clean_properties(properties: dict[str, Any]) -> dict[str, Any]:
    """JSON-safe properties: plain values pass as they are, anything else through ``to_jsonable``."""
    for key, value in properties.items():
        kind = type(value)
        if kind is str:
            if len(value) > MAX_PROPERTY_LENGTH:
                properties[key] = to_jsonable(value, MAX_PROPERTY_LENGTH)
        elif kind not in _PLAIN or (kind is float and (value != value or value in (math.inf, -math.inf))):
            properties[key] = to_jsonable(value, MAX_PROPERTY_LENGTH)
    return properties


class SpanMapper:
    def __init__(self, options: MappingOptions) -> None:
        self.options = options
        self.seen_exceptions = SeenOccurrences()
        self._rules = [self._compile(rule) for rule in options.rules]
        self._excluded_cache: dict[str, bool] = {}

    def _excluded(self, route: str) -> bool:
        # Routes are templates (low cardinality): match each one against the globs once.
        excluded = self._excluded_cache.get(route)
        if excluded is None:
            excluded = any(fnmatch.fnmatchcase(route, pattern) for pattern in self.options.excluded_routes)
            if len(self._excluded_cache) < 10_000:
                self._excluded_cache[route] = excluded
        return excluded

    # -- identity ---------------------------------------------------------------------------------
    def _identity(self, attributes: Mapping[str, Any], properties: dict[str, Any]) -> str:
        distinct_id = first(attributes, *self.options.distinct_id_attributes)
        if distinct_id is not None and str(distinct_id):
            return str(distinct_id)
        properties["$process_person_profile"] = False
        return f"service:{self.options.service}"

    def _event(self, name: str, span: SpanIds, attributes: Mapping[str, Any], properties: dict[str, Any],
               timestamp: int | None = None, uuid_extra: str = "") -> dict[str, Any]:
        properties["$trace_id"] = span.trace_hex
        properties["$span_id"] = span.span_hex
        properties["service"] = self.options.service
        properties["$lib"] = "tl-otel"
        properties["$lib_version"] = self.options.lib_version
        properties["$geoip_disable"] = True
        distinct_id = self._identity(attributes, properties)
        return {
            "event": name,
            "distinct_id": distinct_id,
            "uuid": event_uuid(span.trace_hex, span.span_hex, name, uuid_extra),
            "timestamp": isoformat_utc(timestamp or span.end_time),
            "properties": clean_properties(properties),
        }

    # -- built-in mappings ------------------------------------------------------------------------
    def _api_request(self, span: SpanRecord, attributes: Mapping[str, Any]) -> dict[str, Any] | None:
        route = first(attributes, "http.route") or ""
        if route and self._excluded(route):
            return None
        status_code = first(attributes, "http.response.status_code", "http.status_code")
        failed = span.failed or (isinstance(status_code, int) and status_code >= 500)
        rate = self.options.api_request_sample_rate
        # Decided by trace id: a re-sent span keeps its decision, a trace is all in or all out.
        if not failed and rate < 1.0 and zlib.crc32(span.trace_id.to_bytes(16, "big")) / 0xFFFFFFFF >= rate:
            return None
        properties = {
            "method": first(attributes, "http.request.method", "http.method"),
            "route": route or None,
            "path": first(attributes, "url.path", "http.target"),
            "status_code": status_code,
            "duration_ms": span.duration_ms,
            "success": not failed,
        }
        if properties["path"]:
            properties["path"] = str(properties["path"]).split("?", 1)[0]
        return self._event("api_request", span, attributes, properties)

    def _worker_task(self, span: SpanRecord, attributes: Mapping[str, Any]) -> dict[str, Any]:
        properties = {
            "task_name": first(attributes, "celery.task_name") or span.name.split("/", 1)[-1],
            "task_id": first(attributes, "messaging.message.id"),
            "queue": first(attributes, "messaging.destination", "messaging.destination.name") or "unknown",
            "status": task_run_outcome(attributes, span.status_code),
            "state": first(attributes, "celery.state"),
            "retries": int(first(attributes, "celery.retries") or 0),
            "duration_ms": span.duration_ms,
        }
        return self._event("worker_task", span, attributes, properties)

    def _engine(self, span: SpanRecord, attributes: Mapping[str, Any]) -> dict[str, Any]:
        status = attributes.get("engine.status")
        if status == "failed" or span.failed:
            event, status = "engine_failed", "failed"
        elif status == "cancelled":
            # Stopped from outside (asyncio cancellation): not a failure of the engine.
            event = "engine_cancelled"
        else:
            event, status = "engine_executed", "success"
        properties = {key: value for key, value in attributes.items() if "." not in key}
        properties.update({
            "engine_id": attributes.get("engine.id"),
            "duration_ms": span.duration_ms,
            "status": status,
        })
        if status == "failed":
            properties["error_type"] = attributes.get("error.type")
        return self._event(event, span, attributes, properties)

    def exception_event(self, span: SpanIds, attributes: Mapping[str, Any], event_attributes: Mapping[str, Any],
                        timestamp: int | None, handled: bool | None = None) -> dict[str, Any] | None:
        exc_type = str(event_attributes.get("exception.type") or "Exception")
        message = str(event_attributes.get("exception.message") or "")
        stacktrace = str(event_attributes.get("exception.stacktrace") or "")
        key = occurrence_key(span.trace_id, exc_type, message, stacktrace)
        if not self.seen_exceptions.first_time(key):
            return None
        if handled is None:
            # exception.escaped is unreliable (the SDK records escaping exceptions with "False"); an
            # exception that ended its span in error got out of the code the span covers.
            handled = not span.failed
        properties = {
            "$exception_list": exception_list(exc_type, message, stacktrace, handled),
            "$exception_level": "error",
            "span_name": without_query(span.name) if isinstance(getattr(span, "name", None), str) else None,
        }
        # An outgoing call's span has neither: the recording carries its local root's (exception_context).
        route = attributes.get("http.route") or event_attributes.get("http.route")
        if route:
            properties["route"] = route
        task = attributes.get("celery.task_name") or event_attributes.get("celery.task_name")
        if task:
            properties["task_name"] = task
        return self._event("$exception", span, attributes, properties, timestamp, uuid_extra=repr(key))

    # -- user rules --------------------------------------------------------------------------------
    @staticmethod
    def _compile(rule: Mapping[str, Any]) -> tuple[str, str | None, str | None, str | None, dict[str, str]]:
        attribute, _, expected = (rule.get("attribute") or "").partition("=")
        return (rule["event"], rule.get("span_name"), attribute or None, expected or None,
                dict(rule.get("properties", {})))

    def _user_events(self, span: SpanRecord, attributes: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
        for event, name_glob, attribute, expected, property_map in self._rules:
            if name_glob is not None and not fnmatch.fnmatchcase(span.name, name_glob):
                continue
            if attribute is not None:
                if attribute not in attributes:
                    continue
                if expected is not None and str(attributes[attribute]) != expected:
                    continue
            properties = {prop: attributes.get(source) for prop, source in property_map.items()}
            properties["duration_ms"] = span.duration_ms
            properties["status"] = "failed" if span.failed else "success"
            yield self._event(event, span, attributes, properties)

    # -- entry -------------------------------------------------------------------------------------
    def wants(self, record: tuple[Any, ...]) -> bool:
        """Whether a span can give an event: a request or task run, an engine run, an exception, or a span a
        user rule may match. Anything else never reaches this destination."""
        span = SpanRecord(record)
        return bool(span.request_kind in (API_REQUEST, TASK_RUN) or span.events or self._rules
                    or "engine.id" in span.attributes)

    def events(self, spans: Sequence[Any]) -> list[dict[str, Any]]:
        """Events for span records (or SDK spans)."""
        out: list[dict[str, Any]] = []
        # Children end before their parents, so end-time order puts the innermost recording of an
        # exception first: that one is sent, the later ones are recognised as the same occurrence.
        for span in sorted(views(spans), key=lambda item: item.end_time):
            attributes = span.attributes
            for event in span.events:
                if event[EVENT_NAME] == "exception":
                    translated = self.exception_event(span, attributes, event[EVENT_ATTRIBUTES] or {},
                                                      event[EVENT_TIME])
                    if translated is not None:
                        out.append(translated)
            built = None
            if "engine.id" in attributes:
                built = self._engine(span, attributes)
            else:
                kind = span.request_kind
                if kind == API_REQUEST:
                    built = self._api_request(span, attributes)
                elif kind == TASK_RUN:
                    built = self._worker_task(span, attributes)
            if built is not None:
                out.append(built)
            if self._rules:
                out.extend(self._user_events(span, attributes))
        return out
