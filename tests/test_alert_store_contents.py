"""What the alert stores keep, and how they keep it: no secret from a route at rest (the SQLite file's bytes,
every key and value in a real Redis), any string a route can hold (a lone surrogate), no transaction left
open by an error, a write-ahead log of bounded size, and the retry interval the docs state."""

from __future__ import annotations

import os
import sqlite3
import sys
import time
import uuid

import pytest

from tests.conftest import REPO, clean_env
from tests.test_alert_stores import process
from tests.test_alerting import requests, tick
from tl_otel.alerting.store import RETRY_S, WAL_SIZE_LIMIT, LocalAlertStore

SECRET = "tok3nS3CR3Tvalue"
ROUTE = f"/boom/token={SECRET}"


def fire(store, service: str):
    """30 failing requests on a route that carries a token, evaluated twice: FIRING once."""
    tracer, engine, channel = process(store, service)
    now = time.time()
    requests(tracer, 30, failing=30, route=ROUTE, at=now - 1)
    tick(engine, channel, now)
    subjects = tick(engine, channel, now + 1)
    return engine, subjects


def test_the_local_store_file_holds_no_secret_from_a_route(tmp_path):
    path = tmp_path / "alerts.sqlite3"
    _, subjects = fire(LocalAlertStore(str(path), "svc"), "svc")
    assert len(subjects) == 1 and subjects[0].startswith("[FIRING]")
    stored = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("alerts.sqlite3"))
    assert SECRET.encode() not in stored
    assert b"/boom/token=REDACTED" in stored  # the route is there, its token is not


def test_redis_holds_no_secret_from_a_route():
    redis = pytest.importorskip("redis")
    from tl_otel.alerting.redis_store import RedisAlertStore

    url, service = "redis://127.0.0.1:6379/0", f"store-secrets-{uuid.uuid4().hex}"
    client = redis.Redis.from_url(url)
    try:
        client.ping()
    except redis.RedisError:
        pytest.skip("no Redis at 127.0.0.1:6379")
    try:
        _, subjects = fire(RedisAlertStore(url, service, 60), service)
        assert len(subjects) == 1 and subjects[0].startswith("[FIRING]")
        everything = b""
        for key in client.scan_iter(match=f"tl-otel:alerts:{service}*"):
            everything += key
            kind = client.type(key)
            if kind == b"hash":
                everything += b"".join(k + v for k, v in client.hgetall(key).items())
            elif kind == b"string":
                everything += client.get(key) or b""
        assert SECRET.encode() not in everything
        assert b"/boom/token=REDACTED" in everything
    finally:
        keys = list(client.scan_iter(match=f"tl-otel:alerts:{service}*"))
        if keys:
            client.delete(*keys)


def test_a_lone_surrogate_in_a_route_is_stored_and_nothing_breaks(tmp_path, self_log):
    store = LocalAlertStore(str(tmp_path / "alerts.sqlite3"), "svc")
    tracer, engine, channel = process(store, "svc")
    now = time.time()
    requests(tracer, 30, failing=30, route="/s\udcff", at=now - 1)
    for offset in range(4):
        subjects = tick(engine, channel, now + offset)
    assert len(subjects) == 1 and subjects[0].startswith("[FIRING]"), subjects
    assert [r.getMessage() for r in self_log if r.levelname == "WARNING"] == []
    assert store.window(now + 4, 60) == {("api", "/s\ufffd"): [30, 30, 0, 0]}  # shared, not alone


def test_an_error_inside_a_write_leaves_no_transaction_open(tmp_path):
    path = tmp_path / "alerts.sqlite3"
    store = LocalAlertStore(str(path), "svc", retry_s=0)
    # A key SQLite cannot encode, handed to the store directly (the engine never does: key_names).
    assert store.add_counts({int(time.time()): {("api", "/s\udcff"): [1, 1, 0, 0]}}) is False
    other = sqlite3.connect(path, timeout=0.1, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # "database is locked" if the failed write had kept its transaction
    other.execute("ROLLBACK")
    other.close()
    assert store.add_counts({int(time.time()): {("api", "/fine"): [1, 0, 0, 0]}}) is True


def test_the_write_ahead_log_stays_bounded(tmp_path):
    path = tmp_path / "alerts.sqlite3"
    store = LocalAlertStore(str(path), "svc", retention_s=3900, slot_s=1)
    tracer, engine, channel = process(store, "svc")
    start = int(time.time())
    largest = 0
    for second in range(900):  # 15 minutes at a 1 s evaluation interval, a few routes each second
        for index in range(5):
            requests(tracer, 2, route=f"/route/{index}", at=start + second)
        tick(engine, channel, start + second + 1)
        wal = f"{path}-wal"
        largest = max(largest, os.path.getsize(wal) if os.path.exists(wal) else 0)
    assert largest <= 2 * WAL_SIZE_LIMIT, largest


def test_the_docs_state_the_store_retry_interval():
    alerting = (REPO / "docs" / "alerting.md").read_text()
    assert LocalAlertStore().retry_s == RETRY_S
    assert f"tried again every {RETRY_S:g} s" in alerting
    assert f"{WAL_SIZE_LIMIT // 1024} KiB" in alerting


def test_doctor_masks_a_password_in_a_url_setting():
    import subprocess

    env = clean_env(POSTHOG_API_KEY="phc_doctor_masks", POSTHOG_HOST="http://phuser:PASSW0RDx@127.0.0.1:9",
                    OTEL_EXPORTER_OTLP_ENDPOINT="http://otlpuser:OTLPPASSx@127.0.0.1:9")
    for extra, redact in (([], "true"), (["--json"], "true"), ([], "false")):
        env["TL_OTEL_REDACT"] = redact  # the report is masked even while redaction is being debugged
        done = subprocess.run([sys.executable, "-m", "tl_otel.cli", "doctor", "--timeout", "1", *extra], env=env,
                              cwd=REPO, capture_output=True, text=True, timeout=120)
        output = done.stdout + done.stderr
        assert "posthog_host" in output and "127.0.0.1:9" in output
        assert "PASSW0RDx" not in output and "OTLPPASSx" not in output and "phuser" not in output
