"""The venv the request-path benchmark's servers run in: ``.venv-bench`` at the repository root, set up as
``opentelemetry-bootstrap -a install`` leaves a service's venv, i.e. with ``opentelemetry-instrumentation-logging``
installed too (the dev venv does not have it, and an installed logging instrumentation is loaded by both
upstream's launcher and tl-otel's, so leaving it out would price a setup nobody runs). Created on first use,
rebuilt when pyproject.toml is newer than the last install.

SQLAlchemy is held below 2.1: upstream's SQLAlchemy instrumentation declares ``sqlalchemy<2.1`` and skips a
newer one (tl-otel applies it anyway, tl_otel/startup/instrumentation_versions.py), so on 2.1 the upstream variants
would not trace the route's query at all and tl-otel's SQL span would be priced against nothing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from examples.processes import REPO

VENV = REPO / ".venv-bench"
MARKER = VENV / ".installed"
SQLALCHEMY_BOTH_TRACE = "sqlalchemy[asyncio]>=2.0,<2.1"


def ensure() -> Path:
    """The bench venv's bin folder, installing what is missing."""
    if not MARKER.exists() or (REPO / "pyproject.toml").stat().st_mtime > MARKER.stat().st_mtime:
        print("setting up .venv-bench (tl-otel with its dev extras + opentelemetry-instrumentation-logging)",
              file=sys.stderr)
        if not (VENV / "bin" / "python").exists():
            subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        pip = [str(VENV / "bin" / "python"), "-m", "pip", "install", "--quiet"]
        subprocess.run([*pip, "-e", f"{REPO}[dev]"], check=True, cwd=REPO)
        # --no-deps: its pins would otherwise move the instrumentation packages tl-otel was installed with
        subprocess.run([*pip, "--no-deps", "opentelemetry-instrumentation-logging"], check=True, cwd=REPO)
        subprocess.run([*pip, SQLALCHEMY_BOTH_TRACE], check=True, cwd=REPO)
        MARKER.touch()
    return VENV / "bin"
