"""The seed's metrics dashboard, over the events tl-otel sends (docs/posthog.md), as PostHog insight queries
(``InsightVizNode``/``TrendsQuery`` and one SQL insight). ``docs/dashboards/posthog.json`` is this
definition, exported for review (a test keeps the two equal)."""

from __future__ import annotations

from typing import Any

DASHBOARD_NAME = "tl-otel: API, engines and workers"
DASHBOARD_DESCRIPTION = "Created and kept up to date by `tl-otel dashboard posthog`; edits here are overwritten."
TAG = "tl-otel"


def _events(event: str, name: str | None = None, math: str = "total", math_property: str | None = None,
            properties: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    node: dict[str, Any] = {"kind": "EventsNode", "event": event, "name": name or event, "math": math}
    if math_property:
        node["math_property"] = math_property
    if properties:
        node["properties"] = properties
    return node


def _trends(series: list[dict[str, Any]], interval: str = "hour", date_from: str = "-24h",
            breakdown: str | None = None, formula: str | None = None, display: str = "ActionsLineGraph") -> dict:
    source: dict[str, Any] = {"kind": "TrendsQuery", "series": series, "interval": interval,
                              "dateRange": {"date_from": date_from}, "trendsFilter": {"display": display}}
    if breakdown:
        source["breakdownFilter"] = {"breakdown": breakdown, "breakdown_type": "event"}
    if formula:
        source["trendsFilter"]["formula"] = formula
    return {"kind": "InsightVizNode", "source": source}


SERVER_ERROR = [{"key": "status_code", "value": 500, "operator": "gte", "type": "event"}]

INSIGHTS: list[dict[str, Any]] = [
    {"name": "API requests per minute",
     "description": "api_request events per minute.",
     "query": _trends([_events("api_request")], interval="minute", date_from="-6h")},
    {"name": "API error rate (%)",
     "description": "Share of api_request events with a 5xx status code.",
     "query": _trends([_events("api_request", "all requests"),
                       _events("api_request", "5xx", properties=SERVER_ERROR)], formula="B / A * 100")},
    {"name": "p95 request duration by route (ms)",
     "description": "95th percentile of duration_ms of api_request, by route.",
     "query": _trends([_events("api_request", math="p95", math_property="duration_ms")], breakdown="route")},
    {"name": "Engine executions vs failures",
     "description": "engine_executed and engine_failed events, and engine_cancelled (stopped from outside, "
                    "not a failure).",
     "query": _trends([_events("engine_executed"), _events("engine_failed"), _events("engine_cancelled")],
                      display="ActionsBar")},
    {"name": "Worker task durations (ms)",
     "description": "Median and 95th percentile of duration_ms of worker_task, by task.",
     "query": _trends([_events("worker_task", "median", math="median", math_property="duration_ms"),
                       _events("worker_task", "p95", math="p95", math_property="duration_ms")],
                      breakdown="task_name")},
    {"name": "Top exception types",
     "description": "The ten most frequent $exception types over the last 7 days.",
     "query": {"kind": "DataVisualizationNode", "source": {
         "kind": "HogQLQuery",
         "query": "SELECT JSONExtractString(properties.$exception_list, 1, 'type') AS type, count() AS occurrences "
                  "FROM events WHERE event = '$exception' AND timestamp > now() - INTERVAL 7 DAY "
                  "GROUP BY type ORDER BY occurrences DESC LIMIT 10"}}},
]


def definition() -> dict[str, Any]:
    return {"name": DASHBOARD_NAME, "description": DASHBOARD_DESCRIPTION, "tags": [TAG], "insights": INSIGHTS}
