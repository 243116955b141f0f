"""``./run release X.Y.Z`` in a temporary clone of the repository: it refuses a dirty tree (nothing changed, no
tag), and from a clean one sets the version, names the changelog's "Unreleased" section after it, builds a
wheel and an sdist that ``twine check`` passes, and commits and tags - locally only: the repository the clone
came from gets no tag."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.e2e

VERSION = "9.8.7"
IDENTITY = {"GIT_AUTHOR_NAME": "Release Test", "GIT_AUTHOR_EMAIL": "release@example.com",
            "GIT_COMMITTER_NAME": "Release Test", "GIT_COMMITTER_EMAIL": "release@example.com"}


def git(clone: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(clone), *args], check=True, capture_output=True, text=True,
                          env={**os.environ, **IDENTITY}).stdout


def release(clone: Path, version: str) -> subprocess.CompletedProcess:
    env = {**os.environ, **IDENTITY, "RELEASE_PYTHON": sys.executable}
    return subprocess.run([str(clone / "run"), "release", version], cwd=clone, env=env, capture_output=True,
                          text=True, timeout=600)


@pytest.fixture
def clone(tmp_path) -> Path:
    """A clone of the repository's commits, with this working tree's release step and changelog committed on
    top (so the step under test is the one being changed)."""
    target = tmp_path / "tl-otel"
    subprocess.run(["git", "clone", "-q", "--no-hardlinks", str(REPO), str(target)], check=True)
    for name in ("run", "pyproject.toml", "CHANGELOG.md", "README.md"):
        shutil.copy2(REPO / name, target / name)
    git(target, "add", "-A")
    if git(target, "status", "--porcelain"):
        git(target, "commit", "-q", "-m", "the working tree's release step")
    return target


def test_release_refuses_a_dirty_tree_and_leaves_everything_as_it_was(clone):
    (clone / "README.md").write_text((clone / "README.md").read_text() + "\nan uncommitted line\n")
    done = release(clone, VERSION)
    assert done.returncode == 1
    assert "not clean" in done.stderr and "README.md" in done.stderr
    assert git(clone, "tag", "-l") == ""
    assert f'version = "{VERSION}"' not in (clone / "pyproject.toml").read_text()
    assert not (clone / "dist").exists()


def test_release_builds_checks_commits_and_tags_locally(clone):
    head_before = git(clone, "rev-parse", "HEAD").strip()
    done = release(clone, VERSION)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "PASSED" in done.stdout  # twine check, for the wheel and the sdist
    built = sorted(path.name for path in (clone / "dist").iterdir())
    assert built == [f"tl_otel-{VERSION}-py3-none-any.whl", f"tl_otel-{VERSION}.tar.gz"]
    assert f'version = "{VERSION}"' in (clone / "pyproject.toml").read_text()
    changelog = (clone / "CHANGELOG.md").read_text()
    assert "## Unreleased\n\n## 9.8.7 (" in changelog
    assert git(clone, "status", "--porcelain") == ""  # dist/ is ignored, the rest committed
    assert git(clone, "rev-parse", "HEAD~1").strip() == head_before
    assert git(clone, "log", "-1", "--format=%s").strip() == f"Release {VERSION}"
    assert git(clone, "tag", "-l") == f"v{VERSION}\n"
    assert git(clone, "rev-parse", f"v{VERSION}^{{commit}}").strip() == git(clone, "rev-parse", "HEAD").strip()
    assert git(REPO, "tag", "-l", f"v{VERSION}") == ""  # nothing pushed back
    again = release(clone, VERSION)
    assert again.returncode == 1 and "already exists" in again.stderr


def test_release_refuses_a_version_that_is_not_three_numbers(clone):
    done = release(clone, "1.2")
    assert done.returncode == 2 and "X.Y.Z" in done.stderr
    assert git(clone, "tag", "-l") == ""
