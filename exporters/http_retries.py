"""tl-otel's retry policy for posting a chunk of items over HTTP, shared by the destinations that post
(PostHog's ``/batch/``, Scout's errors service):

- 2xx: delivered. Nothing is re-sent after it.
- 413: the chunk is split in halves and each half sent; one item alone that is too large is dropped.
- 408, 429, 5xx, connection errors and timeouts: retried with exponential backoff (``backoff_base`` doubling
  to ``backoff_cap``, ±20 % jitter), or after ``Retry-After`` when the server sends it, until the retry
  window ends or shutdown starts; then dropped and counted.
- any other status (400, 401, 403, other 4xx): never retried; dropped and counted by status.

A subclass says how one chunk is posted (``post``: the status, or :class:`Retryable`)."""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any

from tl_otel.diagnostics.self_log import RateLimitedLog

RETRYABLE = {408, 429}
_rate_limited = RateLimitedLog()


@dataclass
class DeliveryStats:
    delivered: int = 0
    requests: int = 0
    retries: int = 0
    dropped: dict[str, int] = field(default_factory=dict)
    last_success: float | None = None
    last_error: str | None = None

    def drop(self, reason: str, count: int) -> None:
        self.dropped[reason] = self.dropped.get(reason, 0) + count


class Retryable(Exception):
    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


def is_retryable_status(status: int) -> bool:
    return status in RETRYABLE or status >= 500


def retry_after_seconds(value: str | None) -> float | None:
    """``Retry-After`` as seconds from now: delta-seconds or an HTTP date; None when absent or unreadable
    (the backoff applies then)."""
    if not value:
        return None
    text = value.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(text).timestamp() - time.time())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


class RetryingPoster:
    """Posts chunks with the policy above. ``label`` names the backend and ``noun`` the items in tl-otel's
    own (rate-limited) warnings."""

    label = "HTTP"
    noun = "items"

    def __init__(self, *, retry_window: float, backoff_base: float = 1.0, backoff_cap: float = 30.0) -> None:
        self.retry_window = retry_window
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.stats = DeliveryStats()
        self.stopping = threading.Event()

    def post(self, chunk: list[Any]) -> int:
        raise NotImplementedError

    def send_with_retries(self, chunk: list[Any]) -> bool:
        """Deliver ``chunk``; returns whether all of it was delivered. Never raises for a backend's answer."""
        give_up_at = time.monotonic() + self.retry_window
        attempt = 0
        key = self.label.lower().replace(" ", "-")
        while True:
            try:
                status = self.post(chunk)
            except Retryable as exc:
                self.stats.last_error = exc.reason
                delay = exc.retry_after if exc.retry_after is not None else min(
                    self.backoff_cap, self.backoff_base * 2**attempt) * random.uniform(0.8, 1.2)
                attempt += 1
                if self.stopping.is_set() or time.monotonic() + delay > give_up_at:
                    reason = "shutdown" if self.stopping.is_set() else "retries_exhausted"
                    self.stats.drop(f"{reason}:{exc.reason}", len(chunk))
                    _rate_limited.warning(f"{key}-dropped", "%s: %d %s dropped after %d attempts (%s)",
                                          self.label, len(chunk), self.noun, attempt, exc.reason)
                    return False
                self.stats.retries += 1
                if self.stopping.wait(delay):
                    self.stats.drop(f"shutdown:{exc.reason}", len(chunk))
                    return False
                continue
            if status == 413:
                if len(chunk) == 1:
                    self.stats.drop("413", 1)
                    return False
                middle = len(chunk) // 2
                first = self.send_with_retries(chunk[:middle])
                return self.send_with_retries(chunk[middle:]) and first
            if 200 <= status < 300:
                self.stats.delivered += len(chunk)
                self.stats.last_success = time.time()
                return True
            self.stats.drop(str(status), len(chunk))
            self.stats.last_error = f"HTTP {status}"
            _rate_limited.warning(f"{key}-rejected", "%s rejected %d %s with HTTP %d; not retried",
                                  self.label, len(chunk), self.noun, status)
            return False
