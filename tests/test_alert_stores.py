"""The stores alert state is shared through: the local SQLite store nobody else can write (its private
directory, its files' modes, what is refused and what happens then), no usable temporary directory at all,
a Redis store stopped and restarted mid-incident (a server of the test's own), and Redis over TLS."""

from __future__ import annotations

import os
import shutil
import sqlite3
import stat
import subprocess
import sys
import time

import pytest
from opentelemetry.sdk.trace import TracerProvider

from examples.peers.redis_server import RedisServer, redis_server_available
from tests.conftest import REPO, clean_env
from tests.test_alerting import Recorded, requests, tick
from tl_otel.alerting.engine import AlertEngine
from tl_otel.alerting.processor import AlertingSpanProcessor
from tl_otel.alerting.store import LocalAlertStore
from tl_otel.settings import resolve

SETTINGS = {"TL_OTEL_ALERT_WINDOW_S": "60", "TL_OTEL_ALERT_MIN_REQUESTS": "20", "TL_OTEL_ALERT_FOR_S": "0",
            "TL_OTEL_ALERT_REPEAT_S": "100000", "TL_OTEL_ALERT_DISK_MIN_FREE": "1b"}


def process(store, service: str = "svc", channel: Recorded | None = None):
    """One worker process of a service: its own processor, engine and store handle (and a channel, which
    several may share to keep the order of what they sent)."""
    settings = resolve({}, SETTINGS)
    processor = AlertingSpanProcessor(service, settings.alert_latency_ms)
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(processor)
    channel = channel or Recorded()
    return provider.get_tracer("test"), AlertEngine(processor, settings, service, [channel], store=store), channel


def plant(path, route: str = "/login — reset your password at https://phish.example/") -> None:
    """What another local user would leave at the store's path: a database full of failures."""
    with sqlite3.connect(path) as connection:
        connection.executescript("CREATE TABLE counts (second INTEGER, signal TEXT, key TEXT, total INTEGER, "
                                 "errors INTEGER, slow INTEGER, limited INTEGER, PRIMARY KEY (second, signal, key));"
                                 "CREATE TABLE alerts (rule TEXT, grp TEXT, state TEXT, data TEXT, "
                                 "PRIMARY KEY (rule, grp));")
        connection.execute("INSERT INTO counts VALUES (?, 'api', ?, 500, 500, 0, 0)", (int(time.time()), route))


def warnings_about_the_store(records) -> list[str]:
    return [r.getMessage() for r in records if r.levelname == "WARNING" and "alert store" in r.getMessage()]


def test_a_new_store_is_private_directory_0700_files_0600(tmp_path):
    path = tmp_path / "tl-otel-x" / "alerts-svc.sqlite3"
    tracer, engine, channel = process(LocalAlertStore(str(path)))
    requests(tracer, 30, failing=10, at=time.time() - 2)
    tick(engine, channel, time.time())
    assert channel.sent_subjects[0].startswith("[FIRING] error rate")  # the store works
    assert stat.S_IMODE(os.stat(path.parent).st_mode) == 0o700
    for name in ("alerts-svc.sqlite3", "alerts-svc.sqlite3-wal", "alerts-svc.sqlite3-shm"):
        assert stat.S_IMODE(os.stat(path.parent / name).st_mode) == 0o600, name


def test_the_default_store_is_in_xdg_runtime_dir_else_a_per_user_temporary_directory(tmp_path, monkeypatch):
    import tempfile

    from tl_otel.alerting.store import default_path

    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "run"))
    assert default_path("tl engine/api") == str(tmp_path / "run" / "tl-otel" / "alerts-tl_engine_api.sqlite3")
    monkeypatch.delenv("XDG_RUNTIME_DIR")
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    assert default_path("api") == str(tmp_path / "tmp" / f"tl-otel-{os.getuid()}" / "alerts-api.sqlite3")


@pytest.mark.parametrize("planted", ["a 0666 file", "a 0777 directory", "a symlink"])
def test_a_store_others_can_write_is_refused_with_one_warning_and_evaluation_alone(tmp_path, self_log, planted):
    directory = tmp_path / "tl-otel-0"
    directory.mkdir(mode=0o700)
    path = directory / "alerts-svc.sqlite3"
    if planted == "a symlink":
        elsewhere = tmp_path / "elsewhere.sqlite3"
        plant(elsewhere)
        path.symlink_to(elsewhere)
    else:
        plant(path)
    if planted == "a 0666 file":
        path.chmod(0o666)
    elif planted == "a 0777 directory":
        directory.chmod(0o777)
    tracer, engine, channel = process(LocalAlertStore(str(path)))
    now = time.time()
    for offset in range(3):
        tick(engine, channel, now + offset)
    assert channel.sent_subjects == []  # the planted failures (and their "route") never reach anyone
    [warning] = warnings_about_the_store(self_log)
    assert "refused" in warning and "each process alone" in warning
    requests(tracer, 30, failing=10, at=now + 3)  # this process's own failures still alert, from its own window
    assert tick(engine, channel, now + 4)[0].startswith("[FIRING] error rate 33.3%")
    assert len(warnings_about_the_store(self_log)) == 1


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("setpriv") is None,
                    reason="planting files as another user needs root and setpriv")
def test_a_directory_or_file_planted_by_another_user_is_refused(tmp_path, self_log, monkeypatch, request):
    import tempfile
    from pathlib import Path

    # Outside pytest's own (0700) directory, so the other user can reach it; world-writable like /tmp.
    shared = Path(tempfile.mkdtemp(prefix="tl-otel-shared-tmp-"))
    request.addfinalizer(lambda: shutil.rmtree(shared, ignore_errors=True))
    shared.chmod(0o1777)
    # Another user (nobody) creates the directory the service will use, before the service starts.
    planted = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable, "-c",
                              "import os, sys; os.mkdir(sys.argv[1], 0o700)", str(shared / f"tl-otel-{os.getuid()}")],
                             capture_output=True, text=True)
    assert planted.returncode == 0, planted.stderr
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    monkeypatch.setattr(tempfile, "tempdir", str(shared))
    _, engine, channel = process(LocalAlertStore(service="svc"))
    tick(engine, channel, time.time())
    [warning] = warnings_about_the_store(self_log)
    assert "owned by uid 65534, not by this process's user" in warning
    # A file given to another user inside this user's own directory: refused too.
    directory = tmp_path / "mine"
    directory.mkdir(mode=0o700)
    plant(directory / "alerts-svc.sqlite3")
    os.chown(directory / "alerts-svc.sqlite3", 65534, 65534)
    _, engine, channel = process(LocalAlertStore(str(directory / "alerts-svc.sqlite3")))
    tick(engine, channel, time.time())
    assert "file" in warnings_about_the_store(self_log)[1] and channel.sent_subjects == []


def _cover_read_only(directories: list[str]) -> str:
    """Shell steps that cover each directory with a read-only filesystem, keeping this checkout (and its venv)
    visible when it lives under one of them (a clone in /tmp, as CI may make)."""
    steps = []
    for directory in directories:
        if not str(REPO).startswith(directory.rstrip("/") + "/"):
            steps.append(f"mount -t tmpfs -o ro tmpfs {directory}")
            continue
        steps += ["mount -t tmpfs tmpfs /mnt", "mkdir /mnt/keep", f"mount --bind {REPO} /mnt/keep",
                  f"mount -t tmpfs tmpfs {directory}", f"mkdir -p {REPO}", f"mount --bind /mnt/keep {REPO}",
                  f"mount -o remount,ro {directory}"]
    return " && ".join(steps) + " || exit 97"


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("unshare") is None,
                    reason="read-only mounts over every temporary directory need root and unshare")
def test_no_usable_temporary_directory_configures_everything_and_alerts_per_process(tmp_path):
    """Every directory tempfile tries is on a read-only filesystem (a mount namespace of the test's own)."""
    cwd = tmp_path / "cwd"  # under /tmp: once /tmp is covered, its path (tempfile's last candidate) is unusable
    cwd.mkdir()
    mounts = [d for d in ("/tmp", "/var/tmp", "/usr/tmp") if os.path.isdir(d)]
    # The store is looked for on the evaluation thread: the app waits (a generous deadline) until tl-otel has
    # said what it did about it, rather than sleeping a time a loaded machine may not give that thread.
    code = ("import logging, threading, tl_otel; said = threading.Event(); "
            "seen = logging.Handler(); seen.emit = lambda record: 'alert store' in record.getMessage() and said.set(); "
            "logging.getLogger('tl_otel').addHandler(seen); tl_otel.configure(instrument=False); "
            "logging.getLogger('app').warning('app log line'); said.wait(60); print('app went on')")
    script = f"cd {cwd} && {_cover_read_only(mounts)} && exec {sys.executable} -c \"{code}\""
    env = clean_env(TL_OTEL_ALERT_STORE="local", TL_OTEL_ALERT_EVAL_INTERVAL_S="0.2",
                    OTEL_SERVICE_NAME="no-tmp", PYTHONPATH=str(REPO))
    env.pop("TMPDIR", None)
    env.pop("XDG_RUNTIME_DIR", None)
    ran = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", script], env=env,
                         capture_output=True, text=True, timeout=120)
    assert ran.returncode == 0, ran.stdout[-2000:] + ran.stderr[-3000:]
    assert "app went on" in ran.stdout and '"message":"app log line"' in ran.stdout  # logging bridged as JSON
    assert '"tl-otel configured"' in ran.stderr  # the start-up line: configuration completed
    assert "Traceback" not in ran.stderr
    warnings = [line for line in ran.stderr.splitlines() if "alert store" in line]
    assert len(warnings) == 1 and "no usable temporary directory" in warnings[0], ran.stderr
    assert "WARNING" in warnings[0] and "each process alone" in warnings[0]


needs_redis_server = pytest.mark.skipif(not redis_server_available(), reason="needs the redis-server binary")


@needs_redis_server
def test_redis_stopped_and_restarted_mid_incident_notifies_once(tmp_path, self_log):
    from tl_otel.alerting.redis_store import RedisAlertStore

    server = RedisServer(tmp_path / "redis")
    try:
        slack = Recorded()  # the service's one channel
        workers = [process(RedisAlertStore(server.url, "svc", 60, retry_s=0), channel=slack) for _ in range(3)]
        now = time.time()

        def traffic(at: float, failing: bool = True) -> None:
            for tracer, engine, channel in workers:
                requests(tracer, 10, failing=10 if failing else 0, at=at - 1)
                tick(engine, channel, at)

        traffic(now)
        traffic(now + 1)  # 100 % errors: one FIRING between the three
        server.stop()
        for offset in range(2, 12):  # the incident goes on (100 %) while Redis is away
            traffic(now + offset)
        server.start()  # an empty Redis: it lost the alert state and the counts
        for offset in range(12, 20):
            traffic(now + offset)
        for offset in range(20, 30):  # healthy again: enough requests, under the threshold
            traffic(now + offset, failing=False)
        for offset in range(80, 140, 2):  # the failures leave the window
            traffic(now + offset, failing=False)
        sent = slack.sent_subjects
        assert [s.split(" ", 1)[0] for s in sent] == ["[FIRING]", "[RESOLVED]"], sent
        assert sent[1].startswith("[RESOLVED] error rate 0.0% ≤ 5%")
        # One warning per process when Redis went away, one line when it came back; not one per attempt.
        assert len([r for r in self_log if r.levelname == "WARNING"]) == 3, [r.getMessage() for r in self_log]
        assert len([r for r in self_log if "is back" in r.getMessage()]) == 3
    finally:
        server.stop()


@needs_redis_server
def test_an_incident_starting_during_a_redis_outage_notifies_at_most_once_per_process(tmp_path):
    from tl_otel.alerting.redis_store import RedisAlertStore

    server = RedisServer(tmp_path / "redis")
    try:
        workers = [process(RedisAlertStore(server.url, "svc", 60, retry_s=0)) for _ in range(2)]
        now = time.time()
        server.stop()
        for offset in range(0, 4):
            for tracer, engine, channel in workers:
                requests(tracer, 20, failing=20, at=now + offset - 1)
                tick(engine, channel, now + offset)
        firing = [s for _, _, c in workers for s in c.sent_subjects]
        assert len(firing) == 2  # each process alone: one notice each, the documented worst case
        server.start()
        for offset in range(4, 10):
            for tracer, engine, channel in workers:
                requests(tracer, 20, failing=20, at=now + offset - 1)
                tick(engine, channel, now + offset)
        assert [s for _, _, c in workers for s in c.sent_subjects] == firing  # rejoined without a new notice
    finally:
        server.stop()


@needs_redis_server
def test_redis_over_tls_with_a_password_and_a_private_ca(tmp_path, self_log):
    from tl_otel.alerting.redis_store import RedisAlertStore

    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out",
                    str(cert), "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True)
    password = "s3cret-redis-password"
    try:
        server = RedisServer(tmp_path / "redis", password=password, tls=(cert, key))
    except RuntimeError as exc:  # a build without TLS says so in its log
        pytest.skip(f"this redis-server cannot serve TLS: {exc}")
    try:
        workers = [process(RedisAlertStore(server.url, "svc", 60, ca_file=str(cert))) for _ in range(2)]
        now = time.time()
        for tracer, _, _ in workers:
            requests(tracer, 12, failing=4, at=now - 2)  # neither alone reaches 20 requests
        for _, engine, channel in workers:
            tick(engine, channel, now)
        sent = [s for _, _, channel in workers for s in channel.sent_subjects]
        assert len(sent) == 1 and sent[0].startswith("[FIRING] error rate 33.3%"), sent
        # Without the private CA the certificate is not trusted: evaluation alone, and the password in no line.
        _, engine, channel = process(RedisAlertStore(server.url, "svc", 60))
        tick(engine, channel, now)
        wrong = RedisAlertStore(server.url.replace(password, "wrong-password"), "svc", 60, ca_file=str(cert))
        _, engine, channel = process(wrong)
        tick(engine, channel, now)
        messages = [r.getMessage() + str(r.exc_info or "") for r in self_log]
        assert len([m for m in messages if "alert store (Redis) unavailable" in m]) == 2, messages
        assert not [m for m in messages if password in m or "wrong-password" in m]
    finally:
        server.stop()


def test_a_store_busy_with_other_processes_skips_a_step_instead_of_notifying_alone(tmp_path, self_log):
    path = tmp_path / "tl-otel-x" / "alerts-svc.sqlite3"
    tracer, engine, channel = process(LocalAlertStore(str(path)))
    now = time.time()
    tick(engine, channel, now)  # creates the store
    requests(tracer, 30, failing=10, at=now)
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another process holds the store past the busy timeout
    try:
        assert tick(engine, channel, now + 1) == []
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert warnings_about_the_store(self_log) == []
    assert tick(engine, channel, now + 2)[0].startswith("[FIRING] error rate 33.3%")


def test_the_local_store_keeps_counts_in_slots_of_a_sixtieth_of_the_window(tmp_path, monkeypatch):
    from tl_otel.alerting.setup import build_store

    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    store = build_store(resolve({}, {"TL_OTEL_ALERT_WINDOW_S": "300"}), "svc")
    assert store.slot_s == 5
    now = 1_800_000_000
    store.add_counts({now - 400: {("api", "/a"): [7, 7, 0, 0]}})  # older than the window
    store.add_counts({now - second: {("api", "/a"): [1, 0, 0, 0]} for second in range(1, 300)})
    assert store.window(now, 300) == {("api", "/a"): [299, 0, 0, 0]}
    with sqlite3.connect(store.path) as connection:
        assert connection.execute("SELECT COUNT(*) FROM counts").fetchone()[0] <= 62  # slots, not seconds


def test_a_busy_read_of_the_local_store_is_no_failure_of_it(tmp_path, self_log):
    """A busy store (other processes writing) is no reason to evaluate alone: that process would notify on its
    own share of the counts, a second notice for the same incident."""
    store = LocalAlertStore(str(tmp_path / "tl-otel-x" / "alerts-svc.sqlite3"))
    assert store.window(time.time(), 60) == {}  # opens it

    class BusyReads:
        def __init__(self, connection):
            self.connection = connection

        def execute(self, sql, *args):
            if sql.lstrip().startswith("SELECT"):
                raise sqlite3.OperationalError("database is locked")
            return self.connection.execute(sql, *args)

    real = store._connection
    store._connection = BusyReads(real)
    assert store.window(time.time(), 60) is None  # this step sees only this process's counts
    store._connection = real
    assert warnings_about_the_store(self_log) == []
    assert store.window(time.time(), 60) == {}  # and the next one the store's again, not 30 s later
