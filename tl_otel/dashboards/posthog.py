"""``tl-otel dashboard posthog``: create or update (by name, idempotently) the dashboard of
``posthog_definition`` through PostHog's REST API, with a personal API key and a project id from settings.

Calls: GET/POST/PATCH ``/api/projects/{id}/dashboards/`` and ``/api/projects/{id}/insights/``. A dashboard
of that name is reused; each insight is matched by name on that dashboard and updated in place, or created
on it; insights are never deleted (a renamed one is left for a person to remove)."""

from __future__ import annotations

import json
import sys
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from tl_otel.dashboards.posthog_definition import definition
from tl_otel.settings import resolve


class PostHogAPIError(Exception):
    pass


class PostHogAPI:
    def __init__(self, host: str, personal_api_key: str, project_id: str, timeout: float = 15.0) -> None:
        self.base = f"{host.rstrip('/')}/api/projects/{urllib.parse.quote(str(project_id))}"
        self._headers = {"Authorization": f"Bearer {personal_api_key}", "Content-Type": "application/json"}
        self.timeout = timeout

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.base + path, data=data, method=method, headers=self._headers)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as exc:
            detail = exc.read()[:200].decode(errors="replace")
            raise PostHogAPIError(f"{method} {path}: HTTP {exc.code} {detail}") from None
        except (urllib.error.URLError, OSError) as exc:
            raise PostHogAPIError(f"{method} {path}: {getattr(exc, 'reason', exc)}") from None

    def all(self, path: str) -> list[dict[str, Any]]:
        results, page = [], self.call("GET", path)
        while True:
            results.extend(page.get("results", []))
            following = page.get("next")
            if not following:
                return results
            page = self.call("GET", following.split(self.base, 1)[-1])


def apply(api: PostHogAPI) -> dict[str, Any]:
    """Create or update the dashboard and its insights; returns what was done."""
    wanted = definition()
    done: dict[str, Any] = {"dashboard": None, "created": [], "updated": []}
    found = [d for d in api.all(f"/dashboards/?search={urllib.parse.quote(wanted['name'])}")
             if d.get("name") == wanted["name"] and not d.get("deleted")]
    body = {"name": wanted["name"], "description": wanted["description"], "tags": wanted["tags"]}
    if found:
        dashboard = api.call("PATCH", f"/dashboards/{found[0]['id']}/", body)
    else:
        dashboard = api.call("POST", "/dashboards/", body)
    dashboard_id = dashboard["id"]
    done["dashboard"] = dashboard_id
    existing = {i.get("name"): i for i in api.all(f"/insights/?dashboards=[{dashboard_id}]&saved=true")
                if not i.get("deleted")}
    for insight in wanted["insights"]:
        payload = {"name": insight["name"], "description": insight["description"], "query": insight["query"],
                   "dashboards": [dashboard_id], "tags": wanted["tags"], "saved": True}
        current = existing.get(insight["name"])
        if current is not None:
            api.call("PATCH", f"/insights/{current['id']}/", payload)
            done["updated"].append(insight["name"])
        else:
            api.call("POST", "/insights/", payload)
            done["created"].append(insight["name"])
    return done


def main(dry_run: bool = False) -> int:
    if dry_run:
        print(json.dumps(definition(), indent=2))
        return 0
    settings = resolve()
    missing = [variable for variable, value in (("TL_OTEL_POSTHOG_PERSONAL_API_KEY", settings.posthog_personal_api_key),
                                                ("TL_OTEL_POSTHOG_PROJECT_ID", settings.posthog_project_id))
               if not value]
    if missing:
        print(f"tl-otel dashboard posthog needs {' and '.join(missing)} (a personal API key with dashboard and "
              "insight write access, and the project id)", file=sys.stderr)
        return 2
    refused = [problem.message for problem in settings.problems
               if problem.setting.name in ("posthog_api_host", "posthog_host")]
    host = settings.posthog_api_host or settings.posthog_host
    if refused or not host:  # never PostHog's cloud when the user named another host
        print("tl-otel dashboard posthog: " + "; ".join(refused), file=sys.stderr)
        return 2
    api = PostHogAPI(host, settings.posthog_personal_api_key,
                     settings.posthog_project_id)
    try:
        done = apply(api)
    except PostHogAPIError as exc:
        print(f"PostHog API call failed: {exc}", file=sys.stderr)
        return 1
    print(f"dashboard {done['dashboard']}: {len(done['created'])} insights created, "
          f"{len(done['updated'])} updated")
    return 0
