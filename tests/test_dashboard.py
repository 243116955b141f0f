"""``tl-otel dashboard posthog`` against a local server implementing the PostHog REST endpoints it calls,
which validates every body against PostHog's documented schema: the first run creates the dashboard and
its insights, the second updates them in place (by name), a bad key fails with the cause and no secret."""

from __future__ import annotations

import json
import subprocess
import sys

from examples.peers.posthog_api import PostHogAPIServer, schema_errors_insight
from tests.conftest import REPO, clean_env
from tl_otel.dashboards.posthog_definition import INSIGHTS, definition

KEY = "phx_personal_dashboard_key_0123456789"


def run(api: PostHogAPIServer, key: str = KEY) -> subprocess.CompletedProcess:
    env = clean_env(TL_OTEL_POSTHOG_PERSONAL_API_KEY=key, TL_OTEL_POSTHOG_PROJECT_ID=str(api.project_id),
                    POSTHOG_HOST=api.url)
    return subprocess.run([sys.executable, "-m", "tl_otel.cli", "dashboard", "posthog"], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=60)


def test_every_insight_follows_posthogs_documented_schema():
    for insight in INSIGHTS:
        assert schema_errors_insight({**insight, "dashboards": [1]}) == [], insight["name"]
    names = {insight["name"] for insight in INSIGHTS}
    assert names == {"API requests per minute", "API error rate (%)", "p95 request duration by route (ms)",
                     "Engine executions vs failures", "Worker task durations (ms)", "Top exception types"}


def test_the_dashboard_is_created_then_updated_in_place():
    api = PostHogAPIServer(KEY)
    try:
        first = run(api)
        assert first.returncode == 0, first.stderr
        assert "6 insights created, 0 updated" in first.stdout
        second = run(api)
        assert second.returncode == 0, second.stderr
        assert "0 insights created, 6 updated" in second.stdout
    finally:
        api.stop()
    [dashboard] = api.dashboards.values()
    assert dashboard["name"] == definition()["name"] and dashboard["tags"] == ["tl-otel"]
    assert len(api.insights) == 6 and all(i["dashboards"] == [dashboard["id"]] for i in api.insights.values())
    assert [method for method, _, _ in api.calls].count("POST") == 7  # 1 dashboard + 6 insights, once


def test_a_refused_key_fails_with_the_cause_and_never_prints_the_key():
    api = PostHogAPIServer(KEY)
    try:
        done = run(api, key="phx_wrong_personal_key_0123456789")
    finally:
        api.stop()
    assert done.returncode == 1 and "HTTP 401" in done.stderr
    assert "phx_wrong" not in done.stdout + done.stderr


def test_the_definition_in_docs_is_the_one_applied():
    committed = json.loads((REPO / "docs" / "dashboards" / "posthog.json").read_text())
    assert committed == definition(), "regenerate: tl-otel dashboard posthog --dry-run > docs/dashboards/posthog.json"
