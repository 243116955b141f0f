"""Posting problems to Scout's errors service as scout_apm's ``ErrorServiceThread`` does: gzip'd JSON
``{"notifier", "environment", "root", "problems"}`` to ``{errors_host}/apps/error.scout?key=…&name=…`` with
``Agent-Hostname`` and ``X-Error-Count``, at most ``SCOUT_ERRORS_BATCH_SIZE`` problems per request. The retry
policy is tl-otel's (``tl_otel.exporters.http_retries``); scout_apm's own thread drops a batch on its first
failure."""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import threading
from html import escape
from typing import Any
from urllib.parse import urlencode

import requests

from tl_otel.exporters.http_retries import Retryable, RetryingPoster, is_retryable_status, retry_after_seconds

NOTIFIER = "scout_apm_python"  # the errors service knows scout_apm's notifier; tl-otel sends the same shape
_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False, default=str).encode


class ErrorDelivery(RetryingPoster):
    label = "Scout errors"
    noun = "problems"

    def __init__(self, host: str, key: str, name: str, *, hostname: str | None, environment: str | None,
                 root: str, batch_size: int = 5, timeout: float = 10.0, retry_window: float = 120.0,
                 backoff_base: float = 1.0, backoff_cap: float = 30.0) -> None:
        super().__init__(retry_window=retry_window, backoff_base=backoff_base, backoff_cap=backoff_cap)
        self.url = host.rstrip("/") + "/apps/error.scout?" + urlencode({"key": key, "name": escape(name, quote=False)})
        self.hostname = hostname
        self.environment = environment
        self.root = root
        self.batch_size = max(1, batch_size)
        self.timeout = timeout
        self._session = requests.Session()
        os.register_at_fork(after_in_child=self._after_fork)

    def _after_fork(self) -> None:
        # A pooled connection inherited from the parent must not be shared with it.
        self._session = requests.Session()
        self.stopping = threading.Event()

    def close(self) -> None:
        self.stopping.set()
        with contextlib.suppress(Exception):
            self._session.close()

    def send(self, problems: list[dict[str, Any]]) -> bool:
        """Deliver ``problems`` in requests of at most ``batch_size``; whether all were delivered."""
        ok = True
        for start in range(0, len(problems), self.batch_size):
            ok = self.send_with_retries(problems[start:start + self.batch_size]) and ok
        return ok

    def body(self, problems: list[dict[str, Any]]) -> bytes:
        payload = {"notifier": NOTIFIER, "environment": self.environment, "root": self.root, "problems": problems}
        return gzip.compress(_dumps(payload).encode("utf-8", "replace"), compresslevel=3)

    def post(self, chunk: list[dict[str, Any]]) -> int:
        headers = {"Agent-Hostname": self.hostname or "", "Content-Encoding": "gzip",
                   "Content-Type": "application/json", "X-Error-Count": str(len(chunk))}
        self.stats.requests += 1
        try:
            response = self._session.post(self.url, data=self.body(chunk), headers=headers, timeout=self.timeout)
        except requests.exceptions.Timeout:
            raise Retryable("timeout") from None
        except requests.exceptions.RequestException as exc:
            raise Retryable(type(exc).__name__) from None
        status = response.status_code
        retry_after = response.headers.get("Retry-After")
        response.close()
        if is_retryable_status(status):
            raise Retryable(f"HTTP {status}", retry_after_seconds(retry_after))
        return status
