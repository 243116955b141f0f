"""Alert state shared by the processes of one service on one host: a SQLite file in the temporary
directory, named after the service and the user.

Every process adds its closed one-second buckets to the shared counts, and evaluates the rules over the
sum; the lifecycle step (pending → firing → resolved) runs inside one ``BEGIN IMMEDIATE`` transaction, so
only one process at a time moves an alert and exactly one of them sends each notification. Four uvicorn
workers or Celery children therefore page once per incident, not four times.

If the store cannot be opened or used, the process evaluates on its own (one warning) and tries the
store again later."""

from __future__ import annotations

import contextlib
import json
import os
import re
import sqlite3
import tempfile
import time
from collections.abc import Callable
from typing import Any

from tl_otel.self_log import logger

_SCHEMA = """
CREATE TABLE IF NOT EXISTS counts (second INTEGER, signal TEXT, key TEXT, total INTEGER, errors INTEGER,
    slow INTEGER, limited INTEGER, PRIMARY KEY (second, signal, key));
CREATE TABLE IF NOT EXISTS alerts (rule TEXT, grp TEXT, state TEXT, data TEXT, PRIMARY KEY (rule, grp));
"""


def default_path(service: str) -> str:
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", service)[:80]
    return os.path.join(tempfile.gettempdir(), f"tl-otel-alerts-{safe}-{os.getuid()}.sqlite3")


class LocalAlertStore:
    def __init__(self, path: str) -> None:
        self.path = path
        self._connection: sqlite3.Connection | None = None
        self._pid = -1
        self._failed_at = 0.0

    def _connect(self) -> sqlite3.Connection | None:
        if self._connection is not None and self._pid == os.getpid():
            return self._connection
        if time.monotonic() - self._failed_at < 30 and self._failed_at:
            return None
        try:
            connection = sqlite3.connect(self.path, timeout=5.0, isolation_level=None, check_same_thread=False)
            connection.executescript(_SCHEMA)
            connection.execute("PRAGMA journal_mode=WAL")
        except sqlite3.Error as exc:
            self._failed_at = time.monotonic()
            logger.warning("alert store %s unavailable (%s): evaluating alerts in this process alone", self.path, exc)
            return None
        if self._failed_at:
            logger.info("alert store %s is back: sharing alert state again", self.path)
        self._connection, self._pid, self._failed_at = connection, os.getpid(), 0.0
        return connection

    def _fail(self, exc: Exception) -> None:
        self._connection = None
        self._failed_at = time.monotonic()
        logger.warning("alert store %s failed (%s): evaluating alerts in this process alone", self.path, exc)

    def add_counts(self, buckets: dict[int, dict[tuple[str, str], list[int]]]) -> bool:
        connection = self._connect()
        if connection is None:
            return False
        rows = [(second, signal, key, *counts) for second, bucket in buckets.items()
                for (signal, key), counts in bucket.items()]
        try:
            connection.execute("BEGIN IMMEDIATE")
            connection.executemany(
                "INSERT INTO counts VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (second, signal, key) DO UPDATE SET "
                "total = total + excluded.total, errors = errors + excluded.errors, slow = slow + excluded.slow, "
                "limited = limited + excluded.limited", rows)
            connection.execute("COMMIT")
            return True
        except sqlite3.Error as exc:
            self._rollback(connection)
            self._fail(exc)
            return False

    def window(self, now_s: float, window_s: float) -> dict[tuple[str, str], list[int]] | None:
        connection = self._connect()
        if connection is None:
            return None
        oldest = int(now_s - window_s) + 1
        try:
            connection.execute("DELETE FROM counts WHERE second < ?", (oldest - 3600,))
            rows = connection.execute(
                "SELECT signal, key, SUM(total), SUM(errors), SUM(slow), SUM(limited) FROM counts "
                "WHERE second >= ? GROUP BY signal, key", (oldest,)).fetchall()
        except sqlite3.Error as exc:
            self._fail(exc)
            return None
        return {(signal, key): [int(a), int(b), int(c), int(d)] for signal, key, a, b, c, d in rows}

    def transact(self, step: Callable[[dict[tuple[str, str], dict[str, Any]]], dict[tuple[str, str], dict[str, Any]]]
                 ) -> bool:
        """Run one lifecycle step on the shared alert table, serialised across processes: ``step`` gets the
        stored alerts and returns them as they should be stored."""
        connection = self._connect()
        if connection is None:
            return False
        try:
            connection.execute("BEGIN IMMEDIATE")
            stored = {(rule, grp): json.loads(data) for rule, grp, data in
                      connection.execute("SELECT rule, grp, data FROM alerts")}
            updated = step(stored)
            connection.execute("DELETE FROM alerts")
            connection.executemany("INSERT INTO alerts VALUES (?, ?, ?, ?)",
                                   [(rule, grp, data.get("state"), json.dumps(data))
                                    for (rule, grp), data in updated.items()])
            connection.execute("COMMIT")
            return True
        except (sqlite3.Error, TypeError, ValueError) as exc:
            self._rollback(connection)
            self._fail(exc)
            return False

    @staticmethod
    def _rollback(connection: sqlite3.Connection) -> None:
        with contextlib.suppress(sqlite3.Error):
            connection.execute("ROLLBACK")
