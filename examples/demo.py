"""Run the example engine (API + worker) under tl-otel on embedded defaults and show what was captured.

No keys and no external servers: SQLite and a filesystem Celery transport, and local stand-ins for
PostHog (an HTTP server speaking its capture API) and Scout's core agent (a socket server speaking its
protocol), started here. The API and the worker each run under ``opentelemetry-instrument``; after a
little traffic (including one failing engine run) both get SIGTERM, and what tl-otel delivered is
summarised: the JSON lines on stdout, the PostHog events and the Scout requests."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections import Counter

from examples.peers.fake_core_agent import FakeCoreAgent
from examples.peers.posthog_capture import PostHogCapture
from examples.processes import (
    REPO,
    base_env,
    free_port,
    request,
    start_api,
    start_worker,
    wait_execution,
    wait_http,
    wait_worker_ready,
)


def drive(api: str) -> list[dict]:
    request("GET", f"{api}/engines")
    request("GET", f"{api}/executions/does-not-exist")  # a 404, which is not an error
    submissions = [
        {"engine_id": "engine-123", "input": {"items": [{"price": 2.5, "qty": 2}, {"price": 10, "qty": 1}]}},
        {"engine_id": "engine-slow", "input": {"seconds": 0.3, "rows": 42}},
        {"engine_id": "engine-broken", "input": {"file": "legacy.csv"}},
    ]
    finished = []
    for body in submissions:
        _, execution = request("POST", f"{api}/executions", body)
        finished.append(execution["id"])
    return [wait_execution(api, execution_id) for execution_id in finished]


def summarise(name: str, records: list[dict]) -> None:
    kinds = Counter((record.get("type"), record.get("level")) for record in records)
    print(f"\n== {name}: {len(records)} JSON lines on stdout ==")
    for (kind, level), count in sorted(kinds.items(), key=lambda item: (str(item[0][0]), str(item[0][1]))):
        print(f"   {count:4d}  {kind:6s} {level}")
    for record in records:
        if (record.get("type") == "span" and record.get("span.kind") in ("server", "consumer")) \
                or "engine.id" in record:
            status = record.get("http.status_code", record.get("engine.status", record.get("status")))
            print(f"   span  {record['message']:32s} {record.get('duration_ms', 0):8.1f} ms  {status}"
                  f"  trace={record.get('trace_id', '')[:8]}")
        elif record.get("type") == "log" and record.get("logger", "").startswith("tl-engine"):
            print(f"   log   {record['level']:7s} {record['message']:24s} "
                  f"engine_id={record.get('engine_id')} trace={(record.get('trace_id') or '')[:8]}")


def summarise_backends(posthog: PostHogCapture, scout: FakeCoreAgent) -> None:
    events = Counter(event["event"] for event in posthog.events())
    print(f"\n== PostHog (local capture server): {sum(events.values())} events ==")
    for name, count in sorted(events.items()):
        print(f"   {count:4d}  {name}")
    for event in posthog.events():
        if event["event"] in ("engine_executed", "engine_failed"):
            props = event["properties"]
            print(f"   {event['event']:16s} engine_id={props['engine_id']} duration_ms={props['duration_ms']} "
                  f"status={props['status']}{' error_type=' + props['error_type'] if 'error_type' in props else ''}")
        elif event["event"] == "$exception":
            entry = event["properties"]["$exception_list"][0]
            frame = entry["stacktrace"]["frames"][-1]
            print(f"   $exception       {entry['type']}: {entry['value']} at {frame['filename']}:{frame['lineno']}")
    operations = Counter(commands[-3]["StartSpan"]["operation"] for commands in scout.requests())
    print(f"\n== Scout (local core agent): {sum(operations.values())} requests ==")
    for name, count in sorted(operations.items()):
        print(f"   {count:4d}  {name}")


def main() -> int:
    data_dir = REPO / ".demo"
    shutil.rmtree(data_dir, ignore_errors=True)
    data_dir.mkdir(parents=True)
    posthog = PostHogCapture()
    # Unix socket paths are limited to ~100 bytes: keep it short whatever the checkout's path.
    scout = FakeCoreAgent(os.path.join(tempfile.mkdtemp(prefix="tl-demo-"), "core-agent.sock"))
    port = free_port()
    api_url = f"http://127.0.0.1:{port}"
    env = base_env(data_dir, ENGINE_API_URL=api_url, POSTHOG_API_KEY="phc_demo", POSTHOG_HOST=posthog.url,
                   SCOUT_KEY="demodemodemodemodemo", SCOUT_NAME="tl-engine", SCOUT_CORE_AGENT_LAUNCH="false",
                   SCOUT_CORE_AGENT_SOCKET_PATH=scout.address)
    logs = data_dir / "logs"
    api = start_api(env, port, logs)
    worker = start_worker(env, logs)
    try:
        wait_http(f"{api_url}/health", process=api)
        wait_worker_ready(worker)
        print(f"tl-engine API on {api_url}, worker ready (prefork, filesystem broker, SQLite)")
        for execution in drive(api_url):
            print(f"   execution {execution['engine_id']:14s} -> {execution['status']}"
                  f"{'  (' + execution['error'] + ')' if execution['error'] else ''}")
    finally:
        api_rc = api.stop()
        worker_rc = worker.stop()
    api_records, worker_records = api.records(), worker.records()
    summarise("tl-engine-api", api_records)
    summarise("tl-engine-worker", worker_records)
    api_traces = {r.get("trace_id") for r in api_records if r.get("message") == "POST /executions"}
    joined = {r.get("trace_id") for r in worker_records if r.get("span.kind") == "consumer"} & api_traces
    print(f"\n{len(joined)} of {len(api_traces)} submitted executions share one trace across API and worker.")
    summarise_backends(posthog, scout)
    posthog.stop()
    scout.stop()
    print(f"\nExit status after SIGTERM: api={api_rc} worker={worker_rc}. Full output: {logs}/")
    print(f"\nThe same lines for a person (request trees, errors, alerts; --top for a table per route), "
          f"docs/tail.md:\n   .venv/bin/tl-otel tail --once {logs}/api.stdout {logs}/worker.stdout\n"
          f"   in development, TL_OTEL_JSON_ALL_SPANS=true in a service adds every span (SQL, internal) to its trees")
    return 0 if joined else 1


if __name__ == "__main__":
    sys.exit(main())
