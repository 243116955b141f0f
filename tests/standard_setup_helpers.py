"""Installing upstream instrumentations the way ``opentelemetry-bootstrap`` would, for the coexistence tests."""

from __future__ import annotations

import subprocess
from importlib.metadata import version
from pathlib import Path


def pip_install(python: str | Path, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([str(python), "-m", "pip", "install", "--disable-pip-version-check", *args],
                          capture_output=True, text=True, timeout=timeout)


def install_matching(python: str | Path, names: list[str], wheels: Path, target: Path | None = None,
                     core_version: str | None = None) -> list[str]:
    """Each instrumentation at the release that matches ``opentelemetry-instrumentation``, as bootstrap pins it;
    when the registry lacks that release, the newest one before it. Installed without dependencies (an older
    release's own pins would move the installed core), all in one pip call (``--target`` does not merge
    packages that share the ``opentelemetry`` namespace across calls). Returns the wheels' file names."""
    core = core_version or version("opentelemetry-instrumentation")
    wheels.mkdir(parents=True, exist_ok=True)
    for name in names:
        package = f"opentelemetry-instrumentation-{name}"
        for requirement in (f"{package}=={core}", f"{package}<={core}"):
            done = subprocess.run([str(python), "-m", "pip", "download", "--disable-pip-version-check", "--no-deps",
                                   "-d", str(wheels), requirement], capture_output=True, text=True, timeout=600)
            if done.returncode == 0:
                break
        assert done.returncode == 0, done.stderr[-2000:]
    files = sorted(str(path) for path in wheels.glob("*.whl"))
    where = ["--target", str(target)] if target is not None else []
    done = pip_install(python, "--no-deps", *where, *files)
    assert done.returncode == 0, done.stderr[-2000:]
    return [Path(file).name for file in files]
