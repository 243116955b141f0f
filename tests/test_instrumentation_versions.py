"""Instrumentations and the application's own library versions (tl_otel/startup/instrumentation_versions.py):
SQLAlchemy 2.1 gets SQL spans from sync and async engines, under the launcher and with configure(); an
instrumentation that cannot trace the installed version is named on the start-up line and by doctor.
The greenlet-less SQLAlchemy 2.1 case runs in tests/test_pinned_versions.py (its own virtualenv)."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib.metadata import version

import pytest

from tests.conftest import BIN, REPO, clean_env, run_python, startup_lines

pytestmark = pytest.mark.e2e

SQL_SCRIPT = """
import asyncio, json
{configure}
from opentelemetry import trace
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
memory = InMemorySpanExporter()
trace.get_tracer_provider().add_span_processor(SimpleSpanProcessor(memory))
from sqlalchemy import create_engine, text
from sqlalchemy.ext.asyncio import create_async_engine

with create_engine("sqlite://").connect() as connection:
    connection.execute(text("select sqlite_version() as from_sync_engine"))

async def main():
    engine = create_async_engine("sqlite+aiosqlite://")
    async with engine.connect() as connection:
        await connection.execute(text("select sqlite_version() as from_async_engine"))
    await engine.dispose()

asyncio.run(main())
print("statements", json.dumps(sorted(str(span.attributes.get("db.statement")) for span in memory.get_finished_spans()
                                      if span.attributes.get("db.statement"))))
"""


def startup_line(stderr: str) -> dict:
    [line] = startup_lines(stderr)
    return line


@pytest.mark.parametrize("launcher", [True, False], ids=["launcher", "configure"])
def test_sqlalchemy_sync_and_async_engines_get_sql_spans(launcher):
    configure = "" if launcher else "import tl_otel; tl_otel.configure(service_name='sql')"
    ran = run_python(SQL_SCRIPT.format(configure=configure), launcher=launcher, OTEL_SERVICE_NAME="sql",
                     OTEL_METRICS_EXPORTER="none")
    assert ran.returncode == 0, ran.stderr
    [statements] = [line for line in ran.stdout.splitlines() if line.startswith("statements ")]
    assert json.loads(statements.split(" ", 1)[1]) == ["select sqlite_version() as from_async_engine",
                                                       "select sqlite_version() as from_sync_engine"]
    line = startup_line(ran.stderr)
    assert "sqlalchemy" in line["instrumentations"]
    if version("sqlalchemy").startswith("2.1."):
        assert "beyond its declared sqlalchemy<2.1" in line["instrumentations_adapted"]["sqlalchemy"]
    assert "not traced" not in json.dumps(line["instrumentations_adapted"])  # greenlet is installed here
    assert "only instruments" not in ran.stderr  # no launcher error claiming nothing was instrumented


@pytest.fixture(scope="module")
def old_httpx(tmp_path_factory):
    """httpx 0.17, older than the httpx instrumentation supports (>= 0.18), shadowing the installed one."""
    target = tmp_path_factory.mktemp("old_httpx")
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target),
                    "httpx==0.17.1"], check=True, capture_output=True, timeout=300)
    return target


def test_an_unsupported_library_version_is_named_on_the_startup_line_and_by_doctor(old_httpx):
    ran = run_python("from importlib.metadata import version; print(version('httpx'))", launcher=True,
                     OTEL_SERVICE_NAME="old", OTEL_METRICS_EXPORTER="none", PYTHONPATH=f"{old_httpx}:{REPO}")
    assert ran.returncode == 0, ran.stderr
    assert "0.17.1" in ran.stdout.splitlines()
    line = startup_line(ran.stderr)
    assert "httpx" not in line["instrumentations"]
    assert "httpx 0.17.1" in line["instrumentations_unsupported"]["httpx"]
    assert "httpx>=0.18.0" in line["instrumentations_unsupported"]["httpx"]
    warnings = [line for line in map(json.loads, filter(lambda text: text.startswith("{"), ran.stderr.splitlines()))
                if line["level"] == "WARNING" and line["logger"] == "tl_otel"
                and line["message"].startswith("instrumentation httpx: installed httpx 0.17.1")]
    assert len(warnings) == 1, ran.stderr

    doctor = subprocess.run([str(BIN / "tl-otel"), "doctor", "--json"], capture_output=True, text=True, timeout=120,
                            env=clean_env(PYTHONPATH=f"{old_httpx}:{REPO}"), cwd=REPO)
    report = json.loads(doctor.stdout)
    [httpx] = [item for item in report["instrumentations"] if item["name"] == "httpx"]
    assert httpx["status"] == "unsupported" and "httpx 0.17.1" in httpx["reason"]
    [sqlalchemy] = [item for item in report["instrumentations"] if item["name"] == "sqlalchemy"]
    assert sqlalchemy["status"] == "apply"
    if version("sqlalchemy").startswith("2.1."):
        assert "applied by tl-otel" in sqlalchemy["reason"]
