"""Alert state shared by the processes of one service on one host: a SQLite file named after the service,
in a directory private to the user (``$XDG_RUNTIME_DIR/tl-otel`` when set, else ``<tempdir>/tl-otel-<uid>``).

Every process adds its closed one-second buckets to the shared counts (stored in slots of 1/60 of the
window, so a window is read as 60 slots; it may reach back up to one slot further than the window), and
evaluates the rules over the sum; the lifecycle step (pending → firing → resolved) runs inside one
``BEGIN IMMEDIATE`` transaction, so only one process at a time moves an alert and exactly one of them
sends each notification. Four uvicorn
workers or Celery children therefore page once per incident, not four times.

Nobody else may write it: a shared temporary directory lets any local user plant a file at a predictable
path (and make the service page with their text). The directory is created 0700 and the database 0600
(SQLite gives its ``-wal`` and ``-shm`` files the database's mode); a directory or file that is not owned
by the process's user, is not what it should be (a symlink), or is writable by group or others is refused:
one WARNING, and this process evaluates alone for the rest of its life. So is having no usable temporary
directory at all. Nothing here runs in ``configure()``: the path is found on the evaluation thread.

If the store cannot be opened or used otherwise (busy, disk full), the process evaluates on its own (one
warning) and tries the store again ``RETRY_S`` seconds later.

Every write runs in one ``BEGIN IMMEDIATE`` … ``COMMIT`` (``_immediate``): whatever goes wrong inside,
the transaction is rolled back, so no error leaves a transaction open for the next step to trip on.

Its size on disk is bounded: the write-ahead log is checkpointed every ``WAL_CHECKPOINT_PAGES`` pages and
truncated back to ``WAL_SIZE_LIMIT`` bytes after each checkpoint (SQLite would otherwise let it reach
1000 pages and keep the file at its largest size for ever)."""

from __future__ import annotations

import contextlib
import json
import os
import re
import sqlite3
import stat
import tempfile
import time
from collections.abc import Callable, Iterator
from typing import Any

from tl_otel.diagnostics.self_log import logger

RETRY_S = 5.0
WAL_CHECKPOINT_PAGES = 32  # pages of 4 KiB: a checkpoint about every 30 s at a 1 s evaluation interval
WAL_SIZE_LIMIT = 128 * 1024

_SCHEMA = """
CREATE TABLE IF NOT EXISTS counts (second INTEGER, signal TEXT, key TEXT, total INTEGER, errors INTEGER,
    slow INTEGER, limited INTEGER, PRIMARY KEY (second, signal, key));
CREATE TABLE IF NOT EXISTS alerts (rule TEXT, grp TEXT, state TEXT, data TEXT, PRIMARY KEY (rule, grp));
"""


class Refused(Exception):
    """The store cannot be used safely, now or later: this process evaluates alone."""


class _Busy(Exception):
    """Other processes held the store for the whole busy timeout while this one opened it: they are alive and
    stepping, so this process skips a step rather than stepping (and notifying) alone."""


def store_directory() -> str:
    runtime_dir = os.environ.get("XDG_RUNTIME_DIR")
    if runtime_dir:
        return os.path.join(runtime_dir, "tl-otel")
    try:
        temporary = tempfile.gettempdir()
    except OSError as exc:  # FileNotFoundError: every candidate tempfile tried is unwritable
        raise Refused(f"no usable temporary directory ({exc})") from None
    return os.path.join(temporary, f"tl-otel-{os.getuid()}")


def default_path(service: str) -> str:
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", service)[:80]
    return os.path.join(store_directory(), f"alerts-{safe}.sqlite3")


def _check_private(path: str, kind: str) -> None:
    """Refuse what another user could have planted or can change."""
    info = os.lstat(path)
    expected = stat.S_ISDIR if kind == "directory" else stat.S_ISREG
    if not expected(info.st_mode):
        raise Refused(f"{path} is not a {kind} (a symlink or something else was there)")
    if info.st_uid != os.geteuid():
        raise Refused(f"{kind} {path} is owned by uid {info.st_uid}, not by this process's user (uid {os.geteuid()})")
    if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise Refused(f"{kind} {path} is writable by group or others (mode {stat.S_IMODE(info.st_mode):04o})")


def private_database(path: str) -> None:
    """Create the directory (0700) and the database file (0600) if missing, then check both and the SQLite
    files beside the database."""
    directory = os.path.dirname(path)
    with contextlib.suppress(FileExistsError):
        os.mkdir(directory, 0o700)
    _check_private(directory, "directory")
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600))
    for name in (path, path + "-wal", path + "-shm"):
        if name == path or os.path.lexists(name):
            _check_private(name, "file")


def _busy(exc: Exception) -> bool:
    """Other processes held the store for the whole busy timeout (not a failure of the store)."""
    exc = exc.cause if isinstance(exc, _NotBegun) else exc
    return isinstance(exc, sqlite3.OperationalError) and ("locked" in str(exc) or "busy" in str(exc))


# Connections inherited across a fork are never closed by the child: closing them there could release
# the parent's locks or checkpoint under it. They stay referenced here instead.
_inherited: list[sqlite3.Connection] = []


class LocalAlertStore:
    def __init__(self, path: str | None = None, service: str = "unknown_service", retry_s: float = RETRY_S,
                 retention_s: float = 3900.0, slot_s: int = 1) -> None:
        self.path = path  # None: the default path, found when first used (on the evaluation thread)
        self.service = service
        self.retry_s = retry_s
        self.retention_s = int(retention_s)
        # Counts are stored in slots of this many seconds (a window is read as whole slots): fewer rows to
        # sum at every evaluation.
        self.slot_s = max(1, int(slot_s))
        self.refused: str | None = None
        self._connection: sqlite3.Connection | None = None
        self._pid = -1
        self._failed_at = 0.0

    def _connect(self) -> sqlite3.Connection | None:
        if self._connection is not None:
            if self._pid == os.getpid():
                return self._connection
            _inherited.append(self._connection)
            self._connection = None
        if self.refused is not None or (self._failed_at and time.monotonic() - self._failed_at < self.retry_s):
            return None
        try:
            if self.path is None:
                self.path = default_path(self.service)
            private_database(self.path)
            connection = sqlite3.connect(self.path, timeout=5.0, isolation_level=None, check_same_thread=False)
            connection.executescript(_SCHEMA)
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=NORMAL")  # WAL stays consistent; a power cut may lose a step
            connection.execute("PRAGMA cache_size=-256")  # KiB: the queries are small; memory stays flat
            connection.execute(f"PRAGMA wal_autocheckpoint={WAL_CHECKPOINT_PAGES}")
            connection.execute(f"PRAGMA journal_size_limit={WAL_SIZE_LIMIT}")
        except Refused as exc:
            self.refused = str(exc)
            logger.warning("alert store refused: %s; alerts are evaluated in each process alone (one notification "
                           "per process)", exc)
            return None
        except (sqlite3.Error, OSError) as exc:
            if _busy(exc):
                raise _Busy() from None
            self._down("alert store %s unavailable (%s): evaluating alerts in this process alone", self.path, exc)
            return None
        if self._failed_at:
            logger.info("alert store %s is back: sharing alert state again", self.path)
        self._connection, self._pid, self._failed_at = connection, os.getpid(), 0.0
        return connection

    def _fail(self, exc: Exception) -> None:
        if self._connection is not None:
            with contextlib.suppress(sqlite3.Error):
                self._connection.close()
        self._connection = None
        self._down("alert store %s failed (%s): evaluating alerts in this process alone", self.path, exc)

    def _down(self, message: str, *args: Any) -> None:
        """One WARNING when the store fails; the retries that fail while it stays so are only DEBUG."""
        (logger.debug if self._failed_at else logger.warning)(message, *args)
        self._failed_at = time.monotonic()

    def add_counts(self, buckets: dict[int, dict[tuple[str, str], list[int]]]) -> bool:
        try:
            connection = self._connect()
        except _Busy:
            return False  # the counts stay here and go with the next step
        if connection is None:
            return False
        slots: dict[tuple[int, str, str], list[int]] = {}
        for second, bucket in buckets.items():
            start = second - second % self.slot_s
            for key, counts in bucket.items():
                target = slots.setdefault((start, *key), [0, 0, 0, 0])
                for slot in range(4):
                    target[slot] += counts[slot]
        rows = [(*where, *counts) for where, counts in slots.items()]
        try:
            with _immediate(connection):
                # Pruned by the writers (reads never wait for the write lock): counts older than the window.
                connection.execute("DELETE FROM counts WHERE second < ?", (max(buckets) - self.retention_s,))
                connection.executemany(
                    "INSERT INTO counts VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (second, signal, key) DO UPDATE "
                    "SET total = total + excluded.total, errors = errors + excluded.errors, slow = slow + "
                    "excluded.slow, limited = limited + excluded.limited", rows)
            return True
        except Exception as exc:
            if not _busy(exc):  # busy: the counts stay here and go with the next step
                self._fail(exc)
            return False

    def window(self, now_s: float, window_s: float) -> dict[tuple[str, str], list[int]] | None:
        try:
            connection = self._connect()
        except _Busy:
            return None  # this step sees this process's own counts; the shared state is not left
        if connection is None:
            return None
        oldest = int(now_s - window_s) + 1
        oldest -= oldest % self.slot_s  # the slot the window starts in, whole
        try:
            rows = connection.execute(
                "SELECT signal, key, SUM(total), SUM(errors), SUM(slow), SUM(limited) FROM counts "
                "WHERE second >= ? GROUP BY signal, key", (oldest,)).fetchall()
        except sqlite3.Error as exc:
            if not _busy(exc):  # busy is no failure of the store: reading again next step
                self._fail(exc)
            return None
        return {(signal, key): [int(a), int(b), int(c), int(d)] for signal, key, a, b, c, d in rows}

    def transact(self, step: Callable[[dict[tuple[str, str], dict[str, Any]]], dict[tuple[str, str], dict[str, Any]]]
                 ) -> bool:
        """Run one lifecycle step on the shared alert table, serialised across processes: ``step`` gets the
        stored alerts and returns them as they should be stored."""
        try:
            connection = self._connect()
        except _Busy:
            return True  # as for a busy BEGIN IMMEDIATE below: another process carries this tick
        if connection is None:
            return False
        try:
            with _immediate(connection):
                stored = {(rule, grp): json.loads(data) for rule, grp, data in
                          connection.execute("SELECT rule, grp, data FROM alerts")}
                updated = step(stored)
                if updated != stored:  # most steps change nothing: nothing to write then
                    connection.execute("DELETE FROM alerts")
                    connection.executemany("INSERT INTO alerts VALUES (?, ?, ?, ?)",
                                           [(rule, grp, data.get("state"), json.dumps(data))
                                            for (rule, grp), data in updated.items()])
            return True
        except _NotBegun as exc:
            if not _busy(exc.cause):
                self._fail(exc.cause)
                return False
            # Other processes held the store for the whole busy timeout: they are alive and stepping, so one
            # of them carries this tick. Stepping alone here would notify a second time.
            logger.debug("alert store busy: this process skips one evaluation step")
            return True
        except Exception as exc:
            self._fail(exc)
            return False


class _NotBegun(Exception):
    """BEGIN IMMEDIATE itself failed (nothing was done)."""

    def __init__(self, cause: Exception) -> None:
        super().__init__(str(cause))
        self.cause = cause


@contextlib.contextmanager
def _immediate(connection: sqlite3.Connection) -> Iterator[None]:
    """One write transaction; any error inside rolls it back before it propagates."""
    if connection.in_transaction:  # left open by something that should not have: never build on it
        with contextlib.suppress(sqlite3.Error):
            connection.execute("ROLLBACK")
    try:
        connection.execute("BEGIN IMMEDIATE")
    except sqlite3.Error as exc:
        raise _NotBegun(exc) from exc
    try:
        yield
        connection.execute("COMMIT")
    except BaseException:
        with contextlib.suppress(sqlite3.Error):
            connection.execute("ROLLBACK")
        raise
