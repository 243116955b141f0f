"""Run by each interpreter of the Python-versions stage (``.ci/python-versions``), inside a virtualenv that
holds only the built wheel with its extras and the frameworks: tl-otel end to end on this Python.

1. Under the launcher: ``opentelemetry-instrument uvicorn`` serves one request (which logs a line and sends
   a Celery task), ``opentelemetry-instrument celery worker --pool=solo`` runs the task; each process's JSON
   lines hold the server span, the task spans and the log lines, with the service's name.
2. In code: ``tl_otel.configure()``, then a request through FastAPI's TestClient, a task run in process and
   log lines, all on stdout, including the 2,000 logged just before a normal exit (flushed by atexit).

The broker is Kombu's filesystem transport in a temporary directory: a real broker between two processes,
with nothing shared with other jobs on the machine. Exit status 0 when every check held; otherwise the
first failed check and the processes' output."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.request
from pathlib import Path

BIN = Path(sys.executable).parent
DEADLINE_S = 60.0

APP = '''
import logging, os
from celery import Celery
from fastapi import FastAPI

work = os.environ["CHECK_DIR"]
celery_app = Celery("check_app", broker="filesystem://", backend=None)
celery_app.conf.broker_transport_options = {
    "data_folder_in": os.path.join(work, "broker"), "data_folder_out": os.path.join(work, "broker"),
    "processed_folder": os.path.join(work, "processed"), "store_processed": False}
celery_app.conf.worker_hijack_root_logger = False
api = FastAPI()
log = logging.getLogger("check")


@celery_app.task(name="check.add")
def add(x, y):
    log.warning("task ran", extra={"total": x + y})
    with open(os.path.join(work, "task-done"), "w") as done:
        done.write(str(x + y))
    return x + y


@api.get("/hello")
def hello():
    log.warning("request served")
    add.delay(2, 3)
    return {"ok": True}
'''

IN_CODE = '''
import logging
import tl_otel
tl_otel.configure(service_name="in-code")
from fastapi.testclient import TestClient
from check_app import add, api
assert TestClient(api).get("/hello").status_code == 200
add.apply(args=(4, 5))
logging.getLogger("check").warning("configured in code")
# No shutdown call: atexit flushes (Python 3.12+ refuses new threads by then).
for index in range(2000):
    logging.getLogger("check").warning("at exit %d", index)
'''


class CheckFailed(Exception):
    pass


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(condition, what: str) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not condition():
        if time.monotonic() > deadline:
            raise CheckFailed(f"{what}: not within {DEADLINE_S:.0f} s")
        time.sleep(0.1)


def json_lines(path: Path) -> list[dict]:
    records = []
    for line in path.read_text().splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and "type" in record:
            records.append(record)
    return records


def expect(records: list[dict], service: str, *messages: str) -> None:
    seen = {record.get("message") for record in records}
    missing = [message for message in messages if not any(str(m).startswith(message) for m in seen)]
    if missing:
        raise CheckFailed(f"{service}: no JSON line for {missing} (of {len(records)} lines)")
    names = {record.get("service.name") for record in records}
    if names != {service}:
        raise CheckFailed(f"{service}: service.name {names}")


def env_for(work: Path, service: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("OTEL_", "TL_OTEL_", "POSTHOG_", "SCOUT_", "PYTHON"))}
    env.update({"CHECK_DIR": str(work), "PYTHONPATH": str(work), "OTEL_SERVICE_NAME": service,
                "OTEL_METRICS_EXPORTER": "none", "TL_OTEL_ALERT_STORE": "process", "TMPDIR": str(work)})
    return env


def start(work: Path, name: str, command: list[str]) -> tuple[subprocess.Popen, Path, Path]:
    out, err = work / f"{name}.out", work / f"{name}.err"
    process = subprocess.Popen([str(BIN / "opentelemetry-instrument"), *command], cwd=work,
                               env=env_for(work, name), stdout=out.open("w"), stderr=err.open("w"))
    return process, out, err


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(DEADLINE_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def under_the_launcher(work: Path) -> None:
    port = free_port()
    api, api_out, api_err = start(work, "api", [str(BIN / "uvicorn"), "check_app:api", "--port", str(port)])
    worker, worker_out, worker_err = start(
        work, "worker", [str(BIN / "celery"), "-A", "check_app:celery_app", "worker", "--pool=solo",
                         "--loglevel=WARNING", "--without-heartbeat", "--without-gossip", "--without-mingle"])
    try:
        def answered() -> bool:
            if api.poll() is not None:
                raise CheckFailed(f"uvicorn exited {api.returncode}: {api_err.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/hello", timeout=5) as response:
                    return response.status == 200
            except OSError:
                return False

        wait_for(answered, "GET /hello through uvicorn")
        wait_for(lambda: (work / "task-done").exists(), "the Celery worker running the task")
    finally:
        stop(api)
        stop(worker)
    for name, err in (("api", api_err), ("worker", worker_err)):
        if not any(line.get("message") == "tl-otel configured" for line in json_lines(err)):
            raise CheckFailed(f"{name}: no start-up line on stderr: {err.read_text()[-2000:]}")
    expect(json_lines(api_out), "api", "GET /hello", "request served", "apply_async/check.add")
    expect(json_lines(worker_out), "worker", "run/check.add", "task ran")


def in_code(work: Path) -> None:
    env = env_for(work, "in-code")
    del env["OTEL_SERVICE_NAME"]  # the name comes from configure(service_name=...)
    done = subprocess.run([sys.executable, "-c", IN_CODE], cwd=work, env=env, capture_output=True, text=True,
                          timeout=DEADLINE_S * 2)
    if done.returncode != 0:
        raise CheckFailed(f"configure() script exited {done.returncode}: {done.stderr[-3000:]}")
    (work / "in-code.out").write_text(done.stdout)
    (work / "in-code.err").write_text(done.stderr)
    records = json_lines(work / "in-code.out")
    expect(records, "in-code", "GET /hello", "request served", "task ran", "configured in code")
    at_exit = [record for record in records if str(record.get("message")).startswith("at exit ")]
    if len(at_exit) != 2000:
        raise CheckFailed(f"configure(): {len(at_exit)} of 2000 records logged just before exit were written")
    if "Traceback" in done.stderr:
        raise CheckFailed("configure(): a traceback on stderr")


def main() -> int:
    version = ".".join(map(str, sys.version_info[:3]))
    with tempfile.TemporaryDirectory(prefix="tl-otel-py") as directory:
        work = Path(directory)
        (work / "check_app.py").write_text(textwrap.dedent(APP))
        for folder in ("broker", "processed"):
            (work / folder).mkdir()
        try:
            under_the_launcher(work)
            print(f"python {version}: launcher ok (uvicorn request, Celery task, log lines)")
            in_code(work)
            print(f"python {version}: configure() ok (request, task, log line)")
        except CheckFailed as failure:
            print(f"python {version}: FAILED: {failure}")
            for output in sorted(work.glob("*.out")) + sorted(work.glob("*.err")):
                print(f"--- {output.name}\n{output.read_text()[-3000:]}")
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
