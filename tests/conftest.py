from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def startup_lines(stderr: str) -> list[dict]:
    """tl-otel's start-up lines in a process's stderr (one per configured process)."""
    lines = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    return [line for line in lines if line.get("message") == "tl-otel configured" and "tl_otel.version" in line]


def clean_env(**extra: str) -> dict[str, str]:
    """The test process's environment without any telemetry settings, plus ``extra``."""
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("OTEL_", "TL_OTEL_", "POSTHOG_", "SCOUT_"))}
    env["PYTHONPATH"] = str(REPO)
    env["TL_OTEL_ALERT_STORE"] = "process"  # no alert state shared between unrelated test processes
    env.update(extra)
    return env


@dataclass
class Ran:
    returncode: int
    stdout: str
    stderr: str

    def json_lines(self) -> list[dict]:
        """tl-otel's JSON lines on stdout (other output, e.g. the SDK console exporter's, is skipped)."""
        import json

        records = []
        for line in self.stdout.splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict) and "type" in record:
                records.append(record)
        return records


def run_python(code: str, *, launcher: bool = False, timeout: float = 60, **env: str) -> Ran:
    """Run ``code`` in a fresh interpreter (optionally under opentelemetry-instrument)."""
    command = [sys.executable, "-c", textwrap.dedent(code)]
    if launcher:
        command = [str(BIN / "opentelemetry-instrument"), *command]
    done = subprocess.run(command, env=clean_env(**env), capture_output=True, text=True, timeout=timeout,
                          cwd=REPO)
    return Ran(done.returncode, done.stdout, done.stderr)


@pytest.fixture
def python():
    return run_python


@pytest.fixture
def recorder():
    """A tracer whose finished spans land in memory (unit tests of translations)."""
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    memory = InMemorySpanExporter()
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(SimpleSpanProcessor(memory))
    return provider.get_tracer("test"), memory


@dataclass
class BuiltWheel:
    path: Path
    log: str  # what the build printed


@pytest.fixture(scope="session")
def built_wheel(tmp_path_factory) -> BuiltWheel:
    """tl-otel built as a wheel once per session, for the tests that install it into virtualenvs of their own."""
    out = tmp_path_factory.mktemp("dist")
    built = subprocess.run([sys.executable, "-m", "build", "--wheel", "--outdir", str(out), str(REPO)],
                           check=True, capture_output=True, text=True, timeout=300)
    [wheel] = out.glob("tl_otel-*.whl")
    return BuiltWheel(wheel, built.stdout + built.stderr)


@pytest.fixture
def self_log():
    """tl-otel's own log records (its logger does not propagate, so caplog does not see them)."""
    import logging

    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    handler = Keep(logging.DEBUG)
    logging.getLogger("tl_otel").addHandler(handler)
    yield records
    logging.getLogger("tl_otel").removeHandler(handler)
