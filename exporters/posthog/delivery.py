"""Delivering events to PostHog's ``/batch/`` endpoint, built on ``posthog.request``.

The client's own ``capture()`` path retries a batch 3 times over about 7 s with no jitter and then drops
it, and its ``shutdown()`` has no timeout. Here each request body is assembled from events serialised
once (their sizes decide the splits), compressed (gzip level 3, chosen by measurement), and posted with the
posthog library's HTTP session (one kept-alive connection, reused request after request), user agent,
endpoint, host mapping and ``Retry-After`` parsing; the retry policy is tl-otel's, shared with Scout's
errors delivery (``tl_otel.exporters.http_retries``): 2xx delivered, 413 split, 408/429/5xx and connection
errors retried with backoff (1 s doubling to 30 s, ±20 % jitter) or after ``Retry-After`` within the retry
window, other 4xx dropped and counted by status.
"""

from __future__ import annotations

import contextlib
import gzip as gzip_module
import json
import os
import threading
from datetime import datetime, timezone
from typing import Any

import requests
from posthog import request as posthog_request

from tl_otel.diagnostics.self_log import RateLimitedLog
from tl_otel.exporters.http_retries import Retryable, RetryingPoster, is_retryable_status

MAX_EVENT_BYTES = 900 * 1024  # the posthog client's per-event cap
MAX_REQUEST_BYTES = 5 * 1024 * 1024  # the client stops filling a batch here (the server takes 20 MB)
# Measured on api_request bodies (150 and 500 events, ~480 bytes each): levels 1-3 cost 1.4-2.1 µs per event,
# level 5 3.3-3.9, level 9 7.9-9.3; level 3 sends 73 bytes per event, level 5 66, level 9 63. Level 3 is as
# cheap as level 1 and 1 % smaller.
GZIP_LEVEL = 3
_rate_limited = RateLimitedLog()
_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False, default=str).encode

try:
    import orjson
except ImportError:  # the json path writes the same events, only slower
    orjson = None  # type: ignore[assignment]


def _encode_event(event: dict[str, Any]) -> bytes:
    """One event as UTF-8 JSON: orjson where it can (about ten times faster), else the json module, which
    also takes what orjson refuses (integers beyond 64 bits, keys that are not strings, lone surrogates)."""
    if orjson is not None:
        try:
            return orjson.dumps(event, default=str)
        except (TypeError, ValueError):
            pass
    return _dumps(event).encode("utf-8", "replace")


class Delivery(RetryingPoster):
    label = "PostHog"
    noun = "events"

    def __init__(self, api_key: str, host: str, *, timeout: float = 10.0, retry_window: float = 120.0,
                 use_gzip: bool = True, backoff_base: float = 1.0, backoff_cap: float = 30.0) -> None:
        self._api_key = api_key
        self.url = posthog_request.remove_trailing_slash(posthog_request.determine_server_host(host)) + \
            posthog_request.EVENTS_ENDPOINT
        super().__init__(retry_window=retry_window, backoff_base=backoff_base, backoff_cap=backoff_cap)
        self.timeout = timeout
        self.use_gzip = use_gzip
        self._session = posthog_request._build_session()
        os.register_at_fork(after_in_child=self._after_fork)

    def _after_fork(self) -> None:
        # A pooled connection inherited from the parent must not be shared with it.
        self._session = posthog_request._build_session()
        self.stopping = threading.Event()

    def close(self) -> None:
        self.stopping.set()
        with contextlib.suppress(Exception):
            self._session.close()

    # -- serialisation -------------------------------------------------------------------------------
    def _serialise(self, events: list[dict[str, Any]]) -> list[bytes]:
        encoded = []
        for event in events:
            try:
                data = _encode_event(event)
            except Exception:
                self.stats.drop("unserialisable", 1)
                continue
            if len(data) > MAX_EVENT_BYTES:
                self.stats.drop("event_too_large", 1)
                _rate_limited.warning("posthog-too-large", "PostHog: an event over %d bytes was dropped (%s)",
                                      MAX_EVENT_BYTES, event.get("event"))
                continue
            encoded.append(data)
        return encoded

    def _body(self, events: list[bytes]) -> bytes:
        sent_at = datetime.now(tz=timezone.utc).isoformat()
        tail = _dumps({"historical_migration": False, "sent_at": sent_at, "api_key": self._api_key})
        body = b'{"batch":[' + b",".join(events) + b"]," + tail[1:].encode("utf-8")
        return gzip_module.compress(body, compresslevel=GZIP_LEVEL) if self.use_gzip else body

    # -- sending -------------------------------------------------------------------------------------
    def send(self, events: list[dict[str, Any]]) -> bool:
        """Deliver ``events``; returns whether all of them were delivered. Never raises."""
        encoded = self._serialise(events)
        chunks, current, size = [], [], 0
        for data in encoded:
            if current and size + len(data) > MAX_REQUEST_BYTES:
                chunks.append(current)
                current, size = [], 0
            current.append(data)
            size += len(data) + 1
        if current:
            chunks.append(current)
        ok = len(encoded) == len(events)
        for chunk in chunks:
            ok = self.send_with_retries(chunk) and ok
        return ok

    def post(self, chunk: list[bytes]) -> int:
        headers = {"Content-Type": "application/json", "User-Agent": posthog_request.USER_AGENT}
        if self.use_gzip:
            headers["Content-Encoding"] = "gzip"
        self.stats.requests += 1
        try:
            response = self._session.post(self.url, data=self._body(chunk), headers=headers, timeout=self.timeout)
        except requests.exceptions.Timeout:
            raise Retryable("timeout") from None
        except requests.exceptions.RequestException as exc:
            raise Retryable(type(exc).__name__) from None
        status = response.status_code
        response.close()
        if is_retryable_status(status):
            raise Retryable(f"HTTP {status}", posthog_request._response_retry_after(response))
        return status
