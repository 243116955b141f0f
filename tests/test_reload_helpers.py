"""Under ``opentelemetry-instrument uvicorn --reload`` tl-otel configures the server process only: the
reloader parent and multiprocessing's resource tracker stay untouched (tl_otel/startup/process_roles.py). One
start-up line per server process, from the process that serves; a reload brings exactly one more."""

from __future__ import annotations

import time

import pytest

from examples.processes import BIN, REPO, base_env, free_port, start, wait_http
from tests.conftest import startup_lines
from tl_otel.startup.process_roles import helper_role

APP = '''
from fastapi import FastAPI

app = FastAPI()
VERSION = "{version}"


@app.get("/health")
def health() -> dict:
    return {{"version": VERSION}}
'''


@pytest.mark.e2e
def test_uvicorn_reload_configures_the_server_process_only(tmp_path):
    app_dir = tmp_path / "app"
    app_dir.mkdir()
    (app_dir / "reloading_app.py").write_text(APP.format(version="1"))
    port = free_port()
    env = base_env(tmp_path / "data", PYTHONPATH=str(REPO), OTEL_SERVICE_NAME="reloading", OTEL_METRICS_EXPORTER="none")
    api = start("api", [str(BIN / "uvicorn"), "reloading_app:app", "--app-dir", str(app_dir), "--reload",
                        "--reload-dir", str(app_dir), "--host", "127.0.0.1", "--port", str(port)], env,
                tmp_path / "logs")
    try:
        wait_http(f"http://127.0.0.1:{port}/health", timeout=60, process=api)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not startup_lines(api.stderr()):
            time.sleep(0.2)
        [first] = startup_lines(api.stderr())
        assert first["process.pid"] != api.popen.pid  # the server child, not the reloader
        assert "fastapi" in first["instrumentations"]

        (app_dir / "reloading_app.py").write_text(APP.format(version="2"))
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len(startup_lines(api.stderr())) < 2:
            time.sleep(0.2)
        wait_http(f"http://127.0.0.1:{port}/health", timeout=30, process=api)
        time.sleep(2.0)  # a helper configuring late would show by now
    finally:
        api.stop()
    lines = startup_lines(api.stderr())
    assert len(lines) == 2, api.stderr()[-3000:]
    assert len({line["process.pid"] for line in lines}) == 2
    assert api.popen.pid not in {line["process.pid"] for line in lines}
    served = [record for record in api.records()
              if record.get("type") == "span" and record.get("span.kind") == "server"]
    assert served and {record["process.pid"] for record in served} <= {line["process.pid"] for line in lines}


@pytest.mark.parametrize(("argv", "environ", "role"), [
    (["python", "-c", "from multiprocessing.resource_tracker import main;main(5)"], {}, "multiprocessing"),
    (["python", "-c", "from multiprocessing.forkserver import main; main(3, 4, ['__main__'])"], {}, "multiprocessing"),
    (["python", "-c", "from multiprocessing.spawn import spawn_main; spawn_main(tracker_fd=5, pipe_handle=7)",
      "--multiprocessing-fork"], {"UVICORN_RELOAD": "true"}, None),
    (["python", "/venv/bin/uvicorn", "app:app", "--reload"], {}, "uvicorn's reloader"),
    (["python", "-m", "uvicorn", "app:app"], {"UVICORN_RELOAD": "true"}, "uvicorn's reloader"),
    (["python", "/venv/bin/uvicorn", "app:app", "--workers", "4"], {}, None),
    (["python", "/venv/bin/fastapi", "dev", "main.py"], {}, "fastapi dev"),
    (["python", "/venv/bin/fastapi", "run", "main.py"], {}, None),
    (["python", "/venv/bin/gunicorn", "-w", "4", "app:app"], {}, None),
    (["python", "/venv/bin/celery", "-A", "proj", "worker"], {}, None),
    (["python", "-c", "print('a script')"], {}, None),
])
def test_which_processes_are_helpers(argv, environ, role):
    found = helper_role(argv, environ)
    assert (found is None) if role is None else (found is not None and found.startswith(role)), found
