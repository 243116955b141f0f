"""Starting the example engine's processes under ``opentelemetry-instrument`` and reading what they wrote.

Used by the demo (``./run demo``) and by the end-to-end tests, so both exercise the same commands a user
would type."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


# Under pytest-xdist each worker takes ports from its own block below the kernel's ephemeral range, so a port
# one worker found free is never handed to another worker's server before its own server binds it; each run
# starts at its own place in the block, so two runs at once rarely meet either.
_PORT_BLOCK = 1000
_next_port = zlib.crc32(os.environ.get("PYTEST_XDIST_TESTRUNUID", "").encode()) % _PORT_BLOCK


def free_port() -> int:
    global _next_port
    worker = os.environ.get("PYTEST_XDIST_WORKER", "").removeprefix("gw")
    if not worker.isdigit():
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            return sock.getsockname()[1]
    first = 20_000 + int(worker) % 12 * _PORT_BLOCK
    for _ in range(_PORT_BLOCK):
        port = first + _next_port
        _next_port = (_next_port + 1) % _PORT_BLOCK
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise OSError(f"no free port in {first}-{first + _PORT_BLOCK - 1}")


def filesystem_sender(folder: str | Path) -> Any:
    """A Celery client that sends to Kombu's filesystem broker in ``folder``, where a worker started with the same
    folder reads. A client of its own per caller: a Celery app caches its broker connection (and folder) once used."""
    from celery import Celery

    folder = str(folder)
    client = Celery("sender", broker="filesystem://")
    client.conf.broker_transport_options = {
        "data_folder_in": folder, "data_folder_out": folder, "processed_folder": folder, "store_processed": False,
        "control_folder": folder}
    return client


def base_env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("OTEL_", "TL_OTEL_", "POSTHOG_", "SCOUT_")) and key != "XDG_RUNTIME_DIR"}
    env.update({"PYTHONPATH": str(REPO), "ENGINE_DATA_DIR": str(data_dir), "PYTHONUNBUFFERED": "1"})
    # Each run gets its own temporary directory, so state kept there (tl-otel's shared alert store, which
    # would be in $XDG_RUNTIME_DIR if it were set) does not carry over from another run of the same service.
    tmp = data_dir / "tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    env["TMPDIR"] = str(tmp)
    # A failure in a process with SCOUT_KEY set becomes a Scout problem: it must never reach Scout's real
    # errors service from a test or the demo (port 9 refuses; a test that reads problems passes its stand-in).
    env["SCOUT_ERRORS_HOST"] = "http://127.0.0.1:9"
    env.update(extra)
    return env


@dataclass
class Process:
    name: str
    popen: subprocess.Popen
    stdout_path: Path
    stderr_path: Path
    files: list[Any] = field(default_factory=list)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int:
        returncode = stop_process(self.popen, sig, timeout)
        for handle in self.files:
            handle.close()
        return returncode

    def records(self) -> list[dict[str, Any]]:
        return read_json_lines(self.stdout_path)

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")


def stop_process(popen: subprocess.Popen, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int:
    """Signal a process (SIGTERM: its graceful shutdown), wait for it, kill it if it outlives ``timeout``."""
    if popen.poll() is None:
        popen.send_signal(sig)
        try:
            popen.wait(timeout)
        except subprocess.TimeoutExpired:
            popen.kill()
            popen.wait()
    return popen.returncode


def read_json_lines(path: Path) -> list[dict[str, Any]]:
    records = []
    for line in path.read_text(errors="replace").splitlines():
        if line.startswith("{"):
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return records


def start(name: str, args: list[str], env: dict[str, str], log_dir: Path, instrument: bool = True,
          cwd: Path = REPO) -> Process:
    log_dir.mkdir(parents=True, exist_ok=True)
    stdout_path, stderr_path = log_dir / f"{name}.stdout", log_dir / f"{name}.stderr"
    out, err = stdout_path.open("wb"), stderr_path.open("wb")
    command = [str(BIN / "opentelemetry-instrument"), *args] if instrument else args
    popen = subprocess.Popen(command, env=env, stdout=out, stderr=err, cwd=cwd, stdin=subprocess.DEVNULL)
    return Process(name, popen, stdout_path, stderr_path, [out, err])


def start_api(env: dict[str, str], port: int, log_dir: Path, instrument: bool = True) -> Process:
    env = {"OTEL_SERVICE_NAME": "tl-engine-api", **env}
    args = [str(BIN / "uvicorn"), "examples.engine.api:app", "--host", "127.0.0.1", "--port", str(port),
            "--no-access-log"]
    return start("api", args, env, log_dir, instrument)


def start_worker(env: dict[str, str], log_dir: Path, concurrency: int = 2, extra: list[str] | None = None) -> Process:
    env = {"OTEL_SERVICE_NAME": "tl-engine-worker", **env}
    args = [str(BIN / "celery"), "-A", "examples.engine.worker", "worker", "--pool=prefork",
            f"--concurrency={concurrency}", "--loglevel=INFO", "--without-heartbeat", "--without-gossip",
            "--without-mingle", *(extra or [])]
    return start("worker", args, env, log_dir)


def wait_http(url: str, timeout: float = 30.0, process: Process | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.popen.poll() is not None:
            raise RuntimeError(f"{process.name} exited early:\n{process.stderr()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise TimeoutError(f"{url} did not answer within {timeout}s")


def wait_worker_ready(process: Process, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.popen.poll() is not None:
            raise RuntimeError(f"worker exited early:\n{process.stderr()[-3000:]}")
        # Celery's own log line (stderr), so readiness does not depend on when tl-otel exports.
        if " ready." in process.stderr():
            return
        time.sleep(0.2)
    raise TimeoutError(f"worker not ready within {timeout}s:\n{process.stderr()[-3000:]}")


def request(method: str, url: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method, headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def wait_execution(api: str, execution_id: str, timeout: float = 60.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _, body = request("GET", f"{api}/executions/{execution_id}")
        if body and body.get("status") in ("success", "failed"):
            return body
        time.sleep(0.2)
    raise TimeoutError(f"execution {execution_id} did not finish within {timeout}s")
