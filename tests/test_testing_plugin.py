"""tl_otel.testing, the pytest plugin for tl-otel's users, exercised by a sample user project
(tests/sample_project: a tiny FastAPI app and its tests) run by its own pytest, with the plugin loaded the
way an installed tl-otel loads it (the pytest11 entry point). tests/test_wheel.py runs the same project
against the built wheel in a fresh virtualenv."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import REPO, clean_env

PROJECT = REPO / "tests" / "sample_project"


def run_sample_project(python: str, cwd, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([python, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(cwd)],
                          env=env, cwd=cwd, capture_output=True, text=True, timeout=300)


def test_the_sample_project_passes_with_the_plugin():
    env = clean_env()
    env["PYTHONPATH"] = f"{REPO}:{PROJECT}"
    done = run_sample_project(sys.executable, PROJECT, env)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "5 passed" in done.stdout
