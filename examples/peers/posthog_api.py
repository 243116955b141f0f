"""A local stand-in for the parts of PostHog's REST API that ``tl-otel dashboard posthog`` calls
(dashboards and insights of a project, personal-API-key bearer auth, paginated lists), which rejects with
400 any body that does not follow PostHog's documented schema for those endpoints (insight ``query`` nodes:
``InsightVizNode`` + ``TrendsQuery`` with ``EventsNode`` series, ``DataVisualizationNode`` + ``HogQLQuery``)."""

from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

MATHS = {"total", "dau", "weekly_active", "monthly_active", "unique_session", "min", "max", "avg", "sum", "median",
         "p75", "p90", "p95", "p99"}
PROPERTY_MATHS = {"min", "max", "avg", "sum", "median", "p75", "p90", "p95", "p99"}
INTERVALS = {"minute", "hour", "day", "week", "month"}
DISPLAYS = {"ActionsLineGraph", "ActionsLineGraphCumulative", "ActionsAreaGraph", "ActionsBar", "ActionsBarValue",
            "ActionsTable", "ActionsPie", "BoldNumber", "WorldMap"}
OPERATORS = {"exact", "is_not", "icontains", "not_icontains", "regex", "not_regex", "gt", "gte", "lt", "lte",
             "is_set", "is_not_set"}


def schema_errors_insight(body: dict[str, Any]) -> list[str]:
    errors = []
    if not isinstance(body.get("name"), str) or not body["name"]:
        errors.append("name: a non-empty string")
    if not all(isinstance(d, int) for d in body.get("dashboards", [])):
        errors.append("dashboards: a list of dashboard ids")
    query = body.get("query")
    if not isinstance(query, dict):
        return [*errors, "query: required"]
    if query.get("kind") == "InsightVizNode":
        source = query.get("source") or {}
        if source.get("kind") != "TrendsQuery":
            errors.append("query.source.kind: TrendsQuery expected here")
        series = source.get("series")
        if not isinstance(series, list) or not series:
            errors.append("query.source.series: a non-empty list")
        for node in series or []:
            if node.get("kind") != "EventsNode" or not isinstance(node.get("event"), str):
                errors.append("series: EventsNode with an event name")
            if node.get("math", "total") not in MATHS:
                errors.append(f"series.math: one of {sorted(MATHS)}")
            if node.get("math") in PROPERTY_MATHS and not node.get("math_property"):
                errors.append("series.math_property: required with a property math")
            for prop in node.get("properties", []):
                if prop.get("type") != "event" or prop.get("operator") not in OPERATORS or "key" not in prop:
                    errors.append("series.properties: event property filters")
        if source.get("interval", "day") not in INTERVALS:
            errors.append("query.source.interval")
        if not isinstance(source.get("dateRange", {}).get("date_from", "-7d"), str):
            errors.append("query.source.dateRange.date_from")
        trends = source.get("trendsFilter", {})
        if trends.get("display", "ActionsLineGraph") not in DISPLAYS:
            errors.append("trendsFilter.display")
        formula = trends.get("formula")
        if formula is not None and not re.fullmatch(r"[A-Z0-9 ()+\-*/.]+", formula):
            errors.append("trendsFilter.formula")
        breakdown = source.get("breakdownFilter")
        if breakdown is not None and (not isinstance(breakdown.get("breakdown"), str)
                                      or breakdown.get("breakdown_type") not in {"event", "person", "session"}):
            errors.append("breakdownFilter")
    elif query.get("kind") == "DataVisualizationNode":
        source = query.get("source") or {}
        if source.get("kind") != "HogQLQuery" or not isinstance(source.get("query"), str):
            errors.append("DataVisualizationNode.source: a HogQLQuery with a query string")
    else:
        errors.append("query.kind: InsightVizNode or DataVisualizationNode")
    return errors


class PostHogAPIServer:
    def __init__(self, personal_api_key: str, project_id: int = 1) -> None:
        self.key, self.project_id = personal_api_key, project_id
        self.dashboards: dict[int, dict[str, Any]] = {}
        self.insights: dict[int, dict[str, Any]] = {}
        self.calls: list[tuple[str, str, Any]] = []
        self._next = 100
        self._lock = threading.Lock()
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                return None

            def _answer(self, status: int, payload: Any) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _handle(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length)) if length else None
                with api._lock:
                    api.calls.append((method, self.path, body))
                    status, payload = api.route(method, self.path, body, self.headers.get("Authorization"))
                self._answer(status, payload)

            def do_GET(self) -> None:
                self._handle("GET")

            def do_POST(self) -> None:
                self._handle("POST")

            def do_PATCH(self) -> None:
                self._handle("PATCH")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _id(self) -> int:
        self._next += 1
        return self._next

    def route(self, method: str, path: str, body: Any, authorization: str | None) -> tuple[int, Any]:
        if authorization != f"Bearer {self.key}":
            return 401, {"type": "authentication_error", "code": "authentication_failed",
                         "detail": "Personal API key found in request Authorization header is invalid."}
        parts = urlsplit(path)
        match = re.fullmatch(rf"/api/projects/{self.project_id}/(dashboards|insights)/(?:(\d+)/)?", parts.path)
        if not match:
            return 404, {"detail": "Not found."}
        collection, item = match.group(1), match.group(2)
        store = self.dashboards if collection == "dashboards" else self.insights
        if method == "GET" and item is None:
            query = parse_qs(parts.query)
            rows = list(store.values())
            if "search" in query:
                rows = [r for r in rows if query["search"][0].lower() in r["name"].lower()]
            if "dashboards" in query:
                wanted = set(json.loads(query["dashboards"][0]))
                rows = [r for r in rows if wanted & set(r.get("dashboards", []))]
            return 200, {"count": len(rows), "next": None, "previous": None, "results": rows}
        if method in ("POST", "PATCH"):
            if not isinstance(body, dict):
                return 400, {"detail": "a JSON object is required"}
            if collection == "dashboards":
                errors = [] if isinstance(body.get("name"), str) and body["name"] else ["name: required"]
                errors += [] if all(isinstance(t, str) for t in body.get("tags", [])) else ["tags: strings"]
            else:
                errors = schema_errors_insight(body)
            if errors:
                return 400, {"type": "validation_error", "detail": "; ".join(errors)}
            if method == "POST" and item is None:
                record = {"id": self._id(), **body}
                store[record["id"]] = record
                return 201, record
            if method == "PATCH" and item is not None and int(item) in store:
                store[int(item)].update(body)
                return 200, store[int(item)]
        return 405, {"detail": "method not allowed"}
