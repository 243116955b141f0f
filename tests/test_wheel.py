"""The built wheel in a fresh virtualenv: the package mapping (exporters/ → tl_otel.exporters) and
every entry point work outside the source tree, also with opentelemetry-distro installed beside it."""

from __future__ import annotations

import shutil
import subprocess
import venv
from pathlib import Path

import pytest

from tests.conftest import REPO, clean_env

pytestmark = pytest.mark.e2e

SCRIPT = """
import logging, tl_otel.exporters.jsonl.spans
from opentelemetry import trace
with trace.get_tracer("smoke").start_as_current_span("GET /smoke", kind=trace.SpanKind.SERVER):
    logging.getLogger("smoke").info("from the wheel")
print("module", tl_otel.exporters.jsonl.spans.__file__)
"""


@pytest.fixture(scope="module")
def wheel_venv(tmp_path_factory, built_wheel):
    root = tmp_path_factory.mktemp("wheel")
    (root / "dist").mkdir()
    wheel = shutil.copy(built_wheel.path, root / "dist")
    (root / "build.log").write_text(built_wheel.log)
    venv.create(root / "venv", with_pip=True)
    python = root / "venv" / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", str(wheel), "opentelemetry-distro>=0.66b1,<0.67"],
                   check=True, capture_output=True, timeout=600)
    return root


def run_in(root: Path, **env: str) -> subprocess.CompletedProcess:
    bin_dir = root / "venv" / "bin"
    environment = clean_env(**env)
    environment.pop("PYTHONPATH")  # nothing from the source tree
    return subprocess.run([str(bin_dir / "opentelemetry-instrument"), str(bin_dir / "python"), "-c", SCRIPT],
                          env=environment, capture_output=True, text=True, timeout=60, cwd=root)


def test_wheel_runs_under_the_launcher_beside_opentelemetry_distro(wheel_venv):
    ran = run_in(wheel_venv, OTEL_PYTHON_DISTRO="tl_otel", OTEL_SERVICE_NAME="wheel-smoke")
    assert ran.returncode == 0, ran.stderr
    assert f"module {wheel_venv}" in ran.stdout  # imported from the installed wheel, not the checkout
    assert '"message":"GET /smoke"' in ran.stdout and '"message":"from the wheel"' in ran.stdout
    assert '"service.name":"wheel-smoke"' in ran.stdout
    assert "Failed to auto initialize" not in ran.stderr


FRAMEWORKS = ("fastapi", "starlette", "uvicorn", "httpx", "sqlalchemy", "celery", "kombu", "redis", "requests")


def test_wheel_metadata_extras_bring_no_framework_and_license_is_spdx(wheel_venv):
    import zipfile
    from email.parser import Parser

    from packaging.requirements import Requirement

    [wheel] = (wheel_venv / "dist").glob("tl_otel-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        [name] = [item for item in archive.namelist() if item.endswith(".dist-info/METADATA")]
        metadata = Parser().parsestr(archive.read(name).decode())
    assert metadata["License-Expression"] == "Apache-2.0"
    assert "project.license" not in (wheel_venv / "build.log").read_text()  # no TOML-table deprecation
    requirements = [Requirement(text) for text in metadata.get_all("Requires-Dist")]
    for extra in ("fastapi", "celery"):
        names = {req.name.lower() for req in requirements if req.marker and req.marker.evaluate({"extra": extra})}
        assert names and not names & set(FRAMEWORKS), (extra, names)
        assert all(name.startswith("opentelemetry-instrumentation-") for name in names), names
    for req in requirements:
        # No cap below the next major on anything that is not an OpenTelemetry package of the same train.
        if not req.name.startswith("opentelemetry-") and not (req.marker and req.marker.evaluate({"extra": "dev"})):
            assert all(spec.operator in (">=", "<") for spec in req.specifier), req
            assert not any(spec.operator == "<" and spec.version.count(".") > 0 for spec in req.specifier), req


def test_wheel_entry_points_resolve(wheel_venv):
    python = wheel_venv / "venv" / "bin" / "python"
    code = (
        "from importlib.metadata import entry_points\n"
        "for group in ('opentelemetry_distro', 'opentelemetry_configurator', 'opentelemetry_traces_exporter',"
        " 'opentelemetry_logs_exporter', 'opentelemetry_metrics_exporter'):\n"
        "    for ep in entry_points(group=group):\n"
        "        if ep.value.startswith('tl_otel'):\n"
        "            ep.load(); print(group, ep.name)\n"
    )
    ran = subprocess.run([str(python), "-c", code], capture_output=True, text=True, timeout=60, cwd=wheel_venv)
    assert ran.returncode == 0, ran.stderr
    assert sorted(ran.stdout.split("\n")) == sorted([
        "", "opentelemetry_distro tl_otel", "opentelemetry_configurator tl_otel",
        "opentelemetry_traces_exporter json", "opentelemetry_logs_exporter json", "opentelemetry_metrics_exporter json",
        "opentelemetry_traces_exporter posthog", "opentelemetry_logs_exporter posthog",
        "opentelemetry_traces_exporter scout", "opentelemetry_traces_exporter scout_errors",
        "opentelemetry_metrics_exporter memory",
    ])


def test_a_user_project_tests_its_telemetry_with_the_installed_plugin(wheel_venv, tmp_path):
    [wheel] = (wheel_venv / "dist").glob("tl_otel-*.whl")
    # As a user installs it, in a project of its own: its framework and test tools, and tl-otel with the
    # FastAPI extra (which brings the instrumentations, not FastAPI).
    venv.create(tmp_path / "venv", with_pip=True)
    python = tmp_path / "venv" / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--upgrade", "pip"], check=True,
                   capture_output=True, timeout=300)
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", f"{wheel}[fastapi]", "fastapi", "httpx",
                    "pytest"],
                   check=True, capture_output=True, timeout=600)
    project = tmp_path / "shop"
    shutil.copytree(REPO / "tests" / "sample_project", project)
    environment = clean_env()
    environment.pop("PYTHONPATH")
    done = subprocess.run([str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider"], cwd=project,
                          env=environment, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "5 passed" in done.stdout
