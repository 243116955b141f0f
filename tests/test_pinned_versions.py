"""Installing tl-otel into an existing application changes none of its versions (issue 12 §3).

A virtualenv holds an application's older pinned frameworks (FastAPI 0.108, Starlette 0.32, uvicorn 0.25,
httpx 0.26, SQLAlchemy 2.1 without greenlet, Celery 5.3 with redis 5.0); ``pip install tl-otel[fastapi,celery]``
(the wheel built from this tree) leaves every one of them where it was. Then the application runs under the
launcher, API and a real Celery prefork worker on kombu's filesystem broker, with Scout's core agent faked in
this process: the request, the task and the SQL inside each are traced."""

from __future__ import annotations

import subprocess
import venv
from pathlib import Path

import pytest

from examples.peers.fake_core_agent import FakeCoreAgent
from examples.processes import Process, free_port, request, wait_http, wait_worker_ready
from tests.conftest import REPO, clean_env, startup_lines

pytestmark = [pytest.mark.e2e, pytest.mark.venv, pytest.mark.timeout(900)]

APPLICATION_PINS = {
    "fastapi": "0.108.0",
    "starlette": "0.32.0.post1",
    "pydantic": "2.5.3",
    "uvicorn": "0.25.0",
    "httpx": "0.26.0",
    "sqlalchemy": "2.1.9",
    "celery": "5.3.6",
    "kombu": "5.3.4",
    "redis": "5.0.1",
    "requests": "2.31.0",
}


def frozen(python: Path) -> dict[str, str]:
    done = subprocess.run([str(python), "-m", "pip", "freeze", "--all"], check=True, capture_output=True, text=True,
                          timeout=120)
    versions = {}
    for line in done.stdout.splitlines():
        name, sep, installed = line.partition("==")
        if not sep:
            name, sep, installed = line.partition(" @ ")  # installed from a file (the wheel)
        if sep:
            versions[name.strip().lower().replace("_", "-")] = installed
    return versions


@pytest.fixture(scope="module")
def pinned_app(tmp_path_factory, built_wheel):
    root = tmp_path_factory.mktemp("pinned")
    venv.create(root / "venv", with_pip=True)
    python = root / "venv" / "bin" / "python"
    pins = [f"{name}=={pinned}" for name, pinned in APPLICATION_PINS.items()]
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", *pins], check=True, capture_output=True,
                   timeout=600)
    before = frozen(python)
    installed = subprocess.run([str(python), "-m", "pip", "install", "--quiet", f"{built_wheel.path}[fastapi,celery]"],
                               capture_output=True, text=True, timeout=600)
    assert installed.returncode == 0, installed.stderr[-3000:]
    return root, before, frozen(python)


def test_installing_tl_otel_changes_none_of_the_applications_versions(pinned_app):
    _, before, after = pinned_app
    for name, pinned in APPLICATION_PINS.items():
        assert before[name] == pinned, (name, before[name])
    changed = {name: (old, after.get(name)) for name, old in before.items()
               if after.get(name) != old and name not in ("pip", "setuptools")}
    assert changed == {}
    assert "greenlet" not in after  # SQLAlchemy 2.1 no longer brings it; tl-otel must not either
    assert "opentelemetry-instrumentation-sqlalchemy" in after and "tl-otel" in after


def _start(root: Path, name: str, args: list[str], env: dict[str, str], log_dir: Path) -> Process:
    """Under the venv's launcher, from a directory of its own: uvicorn and celery put the working directory on
    sys.path, and this tree's tl_otel source must not shadow the installed wheel."""
    bin_dir = root / "venv" / "bin"
    log_dir.mkdir(parents=True, exist_ok=True)
    out, err = (log_dir / f"{name}.stdout").open("wb"), (log_dir / f"{name}.stderr").open("wb")
    popen = subprocess.Popen([str(bin_dir / "opentelemetry-instrument"), str(bin_dir / args[0]), *args[1:]],
                             env=env, stdout=out, stderr=err, cwd=log_dir, stdin=subprocess.DEVNULL)
    return Process(name, popen, log_dir / f"{name}.stdout", log_dir / f"{name}.stderr", [out, err])


def test_requests_tasks_and_sql_are_traced_at_the_applications_versions(pinned_app, tmp_path):
    root = pinned_app[0]
    agent = FakeCoreAgent(str(tmp_path / "agent.sock"))
    environment = clean_env(
        PYTHONNOUSERSITE="1",
        PYTHONPATH=str(REPO / "tests" / "apps"), SHOP_DATA_DIR=str(tmp_path / "data"), PYTHONUNBUFFERED="1",
        SCOUT_KEY="pinned-scout-key-0123", SCOUT_NAME="shop", SCOUT_CORE_AGENT_SOCKET_PATH=agent.address,
        SCOUT_CORE_AGENT_LAUNCH="false", OTEL_METRICS_EXPORTER="none", TL_OTEL_ALERTS="false")
    port = free_port()
    api = _start(root, "api", ["uvicorn", "pinned_shop:app", "--host", "127.0.0.1", "--port", str(port)],
                 {**environment, "OTEL_SERVICE_NAME": "shop-api"}, tmp_path / "logs")
    worker = _start(root, "worker", ["celery", "-A", "pinned_shop:queue", "worker", "--pool=prefork",
                                     "--concurrency=1", "--loglevel=INFO", "--without-heartbeat", "--without-gossip",
                                     "--without-mingle"],
                    {**environment, "OTEL_SERVICE_NAME": "shop-worker"}, tmp_path / "logs")
    try:
        wait_http(f"http://127.0.0.1:{port}/health", timeout=90, process=api)
        wait_worker_ready(worker, timeout=90)
        status, body = request("POST", f"http://127.0.0.1:{port}/orders/teapot")
        assert status == 200, body

        def operations() -> dict[str, list[str]]:
            found = {}
            for commands in agent.requests():
                names = [command["StartSpan"]["operation"] for command in commands if "StartSpan" in command]
                root_name = next((name for name in names if name.startswith(("Controller/", "Job/"))), None)
                if root_name:
                    found[root_name] = names
            return found

        assert agent.wait_for(lambda: {"Controller/pinned_shop.create_order", "Job/shop.ship"} <= set(operations()),
                              timeout=60), (operations(), api.stderr()[-2000:], worker.stderr()[-2000:])
        seen = operations()
        assert "SQL/Query" in seen["Controller/pinned_shop.create_order"]
        assert "SQL/Query" in seen["Job/shop.ship"]
    finally:
        api.stop()
        worker.stop()
        agent.stop()
    for process in (api, worker):
        [line] = startup_lines(process.stderr())
        assert line["instrumentations_unsupported"] == {}, line
        assert "async engines (greenlet is not installed)" in line["instrumentations_adapted"]["sqlalchemy"]
        assert {"sqlalchemy", "celery"} <= set(line["instrumentations"])
    assert "fastapi" in startup_lines(api.stderr())[0]["instrumentations"]
    records = api.records()
    assert any(record.get("type") == "span" and record.get("span.kind") == "server" and
               record.get("http.route") == "/orders/{item}" for record in records), records[-5:]


def test_without_greenlet_the_applications_asyncio_import_still_fails_cleanly(pinned_app, tmp_path):
    """tl-otel never imports sqlalchemy.ext.asyncio itself (it patches it when the app does): the app sees its
    own ImportError."""
    bin_dir = pinned_app[0] / "venv" / "bin"
    attempt = ("try:\n    import sqlalchemy.ext.asyncio\n    print('imported')\n"
               "except ImportError:\n    print('ImportError')\n")
    code = attempt  # (a second attempt "succeeds" half-built even without tl-otel: SQLAlchemy's own behaviour)
    done = subprocess.run([str(bin_dir / "opentelemetry-instrument"), str(bin_dir / "python"), "-c", code],
                          env=clean_env(PYTHONPATH="", OTEL_METRICS_EXPORTER="none"), cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert [line for line in done.stdout.splitlines() if not line.startswith("{")] == ["ImportError"]
