"""Every code sample in docs/ runs: ``python`` blocks as scripts, ``bash`` blocks under ``bash -e``, each in a
fresh temporary directory, with tl-otel's environment cleared, the project's virtualenv on PATH and a local
PostHog stand-in at $POSTHOG_HOST (with $POSTHOG_API_KEY). Other fences (``text``, ``json``) are not code."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from examples.peers.posthog_capture import PostHogCapture
from tests.conftest import BIN, REPO, clean_env

FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.MULTILINE | re.DOTALL)


def samples() -> list[tuple[str, int, str, str]]:
    found = []
    for page in sorted((REPO / "docs").glob("*.md")):
        for index, match in enumerate(FENCE.finditer(page.read_text())):
            language, code = match.group(1), match.group(2)
            found.append((page.name, index, language, code))
    return found


def test_every_fence_says_what_it_holds():
    unlabelled = [(page, index) for page, index, language, _ in samples() if not language]
    assert unlabelled == [], "label each fence: python / bash (run) or text / json (not code)"


RUNNABLE = [(page, index, language, code) for page, index, language, code in samples()
            if language in ("python", "bash")]


@pytest.fixture(scope="module")
def posthog():
    capture = PostHogCapture()
    yield capture
    capture.stop()


@pytest.mark.parametrize(("page", "index", "language", "code"), RUNNABLE,
                         ids=[f"{page}#{index}" for page, index, _, _ in RUNNABLE])
def test_docs_sample_runs(page, index, language, code, posthog, tmp_path):
    env = clean_env(POSTHOG_HOST=posthog.url, POSTHOG_API_KEY="phc_docs_samples_key_000000",
                    PATH=f"{BIN}:/usr/bin:/bin", TMPDIR=str(tmp_path))
    command = [sys.executable, "-c", code] if language == "python" else ["bash", "-e", "-c", code]
    done = subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"{page} sample {index} failed:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
    assert "Traceback" not in done.stderr, done.stderr[-3000:]


def test_the_migration_samples_reached_posthog(posthog):
    # Runs after the samples above (same module, same stand-in): the rule-made event and the client's own.
    events = {event["event"]: event for event in posthog.events()}
    assert events["checkout_completed"]["properties"]["order_id"] == "o-1001"
    assert events["checkout_completed"]["distinct_id"] == "user-42"
    assert events["newsletter_subscribed"]["distinct_id"] == "user-42"
