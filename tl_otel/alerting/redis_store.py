"""Alert state shared across hosts and pods through Redis (``TL_OTEL_ALERT_REDIS_URL``): the same three
operations as the local store. Counts live in one hash per second (expiring after the window), the
lifecycle step runs under a short Redis lock (``SET NX PX``), so exactly one process of the whole service
sends each notification. If Redis is unreachable, each process evaluates on its own (one warning) and
rejoins when Redis is back.

TLS: a ``rediss://`` URL verifies the server's certificate (system CAs, or ``ca_file`` for a private CA, or
the URL's own ``ssl_ca_certs``). The URL may carry a password: only the kind of a failure is ever logged."""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Callable
from typing import Any

from tl_otel.alerting.store import RETRY_S
from tl_otel.diagnostics.self_log import logger

LOCK_MS = 5000


class RedisAlertStore:
    def __init__(self, url: str, service: str, retention_s: float, ca_file: str | None = None,
                 retry_s: float = RETRY_S) -> None:
        self.url = url
        self.prefix = f"tl-otel:alerts:{service}"
        self.retention_s = int(retention_s) + 60
        self.retry_s = retry_s
        self._options: dict[str, Any] = {"socket_timeout": 2, "socket_connect_timeout": 2}
        if ca_file and url.startswith("rediss://"):
            self._options["ssl_ca_certs"] = ca_file
        self._client: Any = None
        self._pid = -1
        self._failed_at = 0.0

    def _redis(self) -> Any:
        if self._client is not None and self._pid == os.getpid():
            return self._client
        if self._failed_at and time.monotonic() - self._failed_at < self.retry_s:
            return None
        try:
            import redis

            client = redis.Redis.from_url(self.url, **self._options)
            client.ping()
        except Exception as exc:
            # The URL may carry a password: only the kind of failure is reported.
            self._down("alert store (Redis) unavailable (%s): evaluating alerts in this process alone",
                       type(exc).__name__)
            return None
        if self._failed_at:
            logger.info("alert store (Redis) is back: sharing alert state again")
        self._client, self._pid, self._failed_at = client, os.getpid(), 0.0
        return client

    def _fail(self, exc: Exception) -> None:
        self._client = None
        self._down("alert store (Redis) failed (%s): evaluating alerts in this process alone", type(exc).__name__)

    def _down(self, message: str, *args: Any) -> None:
        """One WARNING when Redis goes away; the retries that fail while it stays away are only DEBUG."""
        (logger.debug if self._failed_at else logger.warning)(message, *args)
        self._failed_at = time.monotonic()

    def add_counts(self, buckets: dict[int, dict[tuple[str, str], list[int]]]) -> bool:
        client = self._redis()
        if client is None:
            return False
        try:
            pipe = client.pipeline(transaction=False)
            for second, bucket in buckets.items():
                key = f"{self.prefix}:counts:{second}"
                for (signal, name), counts in bucket.items():
                    field = json.dumps([signal, name])
                    for slot, value in enumerate(counts):
                        if value:
                            pipe.hincrby(key, f"{slot}|{field}", value)
                pipe.expire(key, self.retention_s)
            pipe.execute()
            return True
        except Exception as exc:
            self._fail(exc)
            return False

    def window(self, now_s: float, window_s: float) -> dict[tuple[str, str], list[int]] | None:
        client = self._redis()
        if client is None:
            return None
        oldest = int(now_s - window_s) + 1
        try:
            pipe = client.pipeline(transaction=False)
            seconds = range(oldest, int(now_s) + 1)
            for second in seconds:
                pipe.hgetall(f"{self.prefix}:counts:{second}")
            buckets = pipe.execute()
        except Exception as exc:
            self._fail(exc)
            return None
        totals: dict[tuple[str, str], list[int]] = {}
        for bucket in buckets:
            for raw_field, raw_value in bucket.items():
                slot, _, field = raw_field.decode().partition("|")
                signal, name = json.loads(field)
                totals.setdefault((signal, name), [0, 0, 0, 0])[int(slot)] += int(raw_value)
        return totals

    def transact(self, step: Callable[[dict[tuple[str, str], dict[str, Any]]], dict[tuple[str, str], dict[str, Any]]]
                 ) -> bool:
        client = self._redis()
        if client is None:
            return False
        token = uuid.uuid4().hex
        lock = f"{self.prefix}:lock"
        try:
            deadline = time.monotonic() + 3
            while not client.set(lock, token, nx=True, px=LOCK_MS):
                if time.monotonic() > deadline:
                    return True  # another process is stepping right now; it carries this tick
                time.sleep(0.02)
            try:
                raw = client.get(f"{self.prefix}:alerts")
                stored = {tuple(key.split("\x1f", 1)): value for key, value in json.loads(raw or "{}").items()}
                updated = step(stored)
                client.set(f"{self.prefix}:alerts", json.dumps({"\x1f".join(key): value
                                                                for key, value in updated.items()}))
            finally:
                if client.get(lock) == token.encode():
                    client.delete(lock)
            return True
        except Exception as exc:
            self._fail(exc)
            return False
