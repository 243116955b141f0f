"""OpenTelemetry's standard onboarding, as a user runs it: a fresh virtualenv, tl-otel with extras from this
checkout (the frameworks named beside it, so the test holds whether or not the extras bring them), then
``opentelemetry-bootstrap -a install``. The logging instrumentation is installed and active; a FastAPI +
SQLAlchemy service under the launcher gives one JSON line per log record and the same spans per request with
bootstrap's default instrumentations as without them (no doubled SQL spans). Slow: marker ``venv``."""

from __future__ import annotations

import collections
import json
import shutil
import subprocess
import sys

import httpx
import pytest

from examples.peers.waiting import wait_for
from examples.processes import base_env, free_port, start, wait_http
from tests.conftest import REPO
from tests.standard_setup_helpers import install_matching, pip_install

pytestmark = [pytest.mark.venv, pytest.mark.e2e, pytest.mark.timeout(1200)]

# What bootstrap installs by default whatever is detected (opentelemetry.instrumentation.bootstrap_gen), plus
# system_metrics, which it adds when psutil is present.
DEFAULTS = ["logging", "asyncio", "threading", "exceptions", "dbapi", "sqlite3", "urllib", "wsgi", "system_metrics"]
REQUESTS = 5


@pytest.fixture(scope="module")
def venv(tmp_path_factory, built_wheel):
    root = tmp_path_factory.mktemp("bootstrap-venv")
    subprocess.run([sys.executable, "-m", "venv", str(root / "venv")], check=True, timeout=120)
    python = root / "venv" / "bin" / "python"
    done = pip_install(python, "-q", f"{built_wheel.path}[fastapi,celery]", "fastapi", "uvicorn", "sqlalchemy",
                       "httpx", timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    bootstrap = subprocess.run([str(root / "venv" / "bin" / "opentelemetry-bootstrap"), "-a", "install"],
                               capture_output=True, text=True, timeout=1200)
    installed = _distributions(python)
    # The registry this runs against may lack the release bootstrap pins for some defaults (it then reports
    # a pip error and goes on): those get the newest release before it, so the defaults that matter are there.
    missing = [name for name in ("sqlite3", "dbapi") if f"opentelemetry-instrumentation-{name}" not in installed]
    if missing:
        install_matching(python, missing, root / "wheels",
                         core_version=installed["opentelemetry-instrumentation"])
    installed = _distributions(python)
    assert "opentelemetry-instrumentation-logging" in installed, bootstrap.stdout[-3000:] + bootstrap.stderr[-3000:]
    return root, python, installed


def _distributions(python) -> dict[str, str]:
    done = subprocess.run([str(python), "-m", "pip", "list", "--format=json", "--disable-pip-version-check"],
                          capture_output=True, text=True, timeout=120, check=True)
    return {item["name"].lower().replace("_", "-"): item["version"] for item in json.loads(done.stdout)}


def _launcher_env(root, **extra: str) -> dict[str, str]:
    env = base_env(root / "data", OTEL_SERVICE_NAME="bootstrap-app", OTEL_METRICS_EXPORTER="none",
                   **{"BOOTSTRAP_APP_DB": str(root / "items.db"), **extra})
    env["PYTHONPATH"] = str(root / "app")  # the app only: tl-otel comes from the venv, not this checkout
    return env


def test_logging_instrumentation_is_installed_and_active(venv):
    root, python, _ = venv
    launcher = python.parent / "opentelemetry-instrument"
    done = subprocess.run([str(launcher), str(python), "-c", """
import logging
from opentelemetry.instrumentation.logging import LoggingInstrumentor
assert LoggingInstrumentor().is_instrumented_by_opentelemetry
assert logging.getLogRecordFactory() is not logging.LogRecord  # its record factory is in place
print("ACTIVE", [type(h).__name__ for h in logging.getLogger().handlers])
"""], env=_launcher_env(root), capture_output=True, text=True, timeout=120, cwd=root)
    assert done.returncode == 0, done.stderr
    assert "ACTIVE []" in done.stdout  # active, and its handler (the second export of every record) not added


def _serve(root, python, name: str, **extra: str) -> tuple[list[dict], list[dict]]:
    (root / "app").mkdir(exist_ok=True)
    shutil.copy(REPO / "tests" / "apps" / "bootstrap_app.py", root / "app" / "bootstrap_app.py")
    port = free_port()
    # The venv's own launcher (start() would prefix this checkout's), run from the app's folder: the launcher
    # puts its working directory on PYTHONPATH, and from this checkout tl-otel would come from the source tree.
    process = start(name, [str(python.parent / "opentelemetry-instrument"), str(python.parent / "uvicorn"),
                           "bootstrap_app:app", "--port", str(port), "--no-access-log"],
                    _launcher_env(root, BOOTSTRAP_APP_DB=str(root / f"{name}.db"), **extra), root / "logs",
                    instrument=False, cwd=root / "app")
    per_request = []
    try:
        wait_http(f"http://127.0.0.1:{port}/counts/0", 90, process)
        trace_ids = [httpx.get(f"http://127.0.0.1:{port}/items").json()["trace_id"] for _ in range(REQUESTS)]
        for trace_id in trace_ids:
            url = f"http://127.0.0.1:{port}/counts/{trace_id}"
            assert wait_for(lambda url=url: "SERVER opentelemetry.instrumentation.fastapi" in httpx.get(url).json(), 30)
            per_request.append(httpx.get(url).json())
    finally:
        process.stop()
    return per_request, [r for r in process.records() if r.get("type") == "log" and r["logger"] == "bootstrap_app"]


def test_one_line_per_record_and_the_same_spans_per_request_with_and_without_the_defaults(venv):
    root, python, installed = venv
    with_defaults, lines_with = _serve(root, python, "with-defaults")
    without, lines_without = _serve(root, python, "without-defaults",
                                    OTEL_PYTHON_DISABLED_INSTRUMENTATIONS=",".join(DEFAULTS))
    for lines in (lines_with, lines_without):
        per_record = collections.Counter((line["trace_id"], line["message"]) for line in lines)
        assert len(per_record) == 2 * REQUESTS and set(per_record.values()) == {1}, per_record  # one line each
        assert all(line["item_count"] == 2 and line["code.function.name"] == "items" for line in lines)
    assert with_defaults == without, (with_defaults, without)
    sql = [counts.get("CLIENT opentelemetry.instrumentation.sqlalchemy") for counts in with_defaults]
    assert sql == [2] * REQUESTS
    assert not [counts for counts in with_defaults if "CLIENT opentelemetry.instrumentation.sqlite3" in counts]
    print(f"bootstrap venv: {len(lines_with) / (2 * REQUESTS):.0f} log line(s) per record with the defaults, "
          f"{len(lines_without) / (2 * REQUESTS):.0f} without; spans per request with the defaults {with_defaults[0]}, "
          f"without {without[0]}; instrumentations installed: "
          f"{sorted(name[30:] for name in installed if name.startswith('opentelemetry-instrumentation-'))}")
