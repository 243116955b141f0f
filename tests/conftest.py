from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Callable, Iterator
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
    env["SCOUT_ERRORS_HOST"] = "http://127.0.0.1:9"  # never Scout's real errors service (examples/processes.py)
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


@pytest.fixture(scope="session", autouse=True)
def worker_temp_dir() -> Iterator[None]:
    """Under pytest-xdist, each worker's processes get a temporary directory of their own: what tl-otel keeps
    there (the local alert store, per service name) is never shared by two tests running at once. It is made
    like /tmp (world-writable, sticky), beside pytest's own private directories, so tests that need another
    user to reach a temporary directory still can."""
    if "PYTEST_XDIST_WORKER" not in os.environ:
        yield
        return
    before = os.environ.get("TMPDIR")
    folder = Path(tempfile.mkdtemp(prefix=f"tl-otel-tests-{os.environ['PYTEST_XDIST_WORKER']}-"))
    folder.chmod(0o1777)
    os.environ["TMPDIR"] = str(folder)
    tempfile.tempdir = None  # read TMPDIR again
    yield
    if before is None:
        os.environ.pop("TMPDIR", None)
    else:
        os.environ["TMPDIR"] = before
    tempfile.tempdir = None
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def run_shared_dir(tmp_path_factory) -> Path:
    """A folder every pytest-xdist worker of this run shares (the run's base temporary directory)."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if "PYTEST_XDIST_WORKER" in os.environ else base


def once_per_run(shared: Path, name: str, make: Callable[[Path], None]) -> Path:
    """``shared/name``, made by ``make`` by the first worker that asks; the others wait for it and reuse it."""
    from filelock import FileLock

    folder = shared / name
    with FileLock(str(shared / f"{name}.lock")):
        if not (folder / ".done").exists():
            folder.mkdir(exist_ok=True)
            make(folder)
            (folder / ".done").touch()
    return folder


@dataclass
class BuiltWheel:
    path: Path
    log: str  # what the build printed


@pytest.fixture(scope="session")
def built_wheel(run_shared_dir) -> BuiltWheel:
    """tl-otel built as a wheel once per run (every xdist worker shares it), for the tests that install it into
    virtualenvs of their own."""
    def build(out: Path) -> None:
        built = subprocess.run([sys.executable, "-m", "build", "--wheel", "--outdir", str(out), str(REPO)],
                               check=True, capture_output=True, text=True, timeout=300)
        (out / "build.log").write_text(built.stdout + built.stderr)

    out = once_per_run(run_shared_dir, "dist", build)
    [wheel] = out.glob("tl_otel-*.whl")
    return BuiltWheel(wheel, (out / "build.log").read_text())


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



def _has_module_fixture(path: str) -> bool:
    try:
        return 'scope="module"' in (REPO / path).read_text()
    except OSError:
        return False


def pytest_xdist_make_scheduler(config, log):
    """Tests of a module that has a module-scoped fixture (a virtualenv built for the module, a server started
    once) go to one pytest-xdist worker together, so the fixture is made once per run and not once per worker;
    every other test is scheduled alone, wherever a worker is free. (pytest-xdist's own ``loadgroup`` cannot
    do this with pytest 9.2, which no longer reads the node id xdist rewrites.)"""
    from xdist.scheduler import LoadScopeScheduling

    class ModuleFixtureScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            module = nodeid.split("::", 1)[0]
            return module if _has_module_fixture(module) else nodeid

    return ModuleFixtureScheduling(config, log)
