"""One measured server of the request-path benchmark: start the variant's server on a fresh port, drive it with
the load client (a separate process), and read the server's CPU (whole process and per thread), full GC
collections and the client's counts over the client's measured window."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.proc_cpu import process_seconds, snapshot
from examples.processes import REPO, free_port, stop_process, wait_http


@dataclass(frozen=True)
class Variant:
    name: str
    server: str  # "plain", "upstream", "tl-otel" or "scout"
    destinations: bool = False  # PostHog, Scout and alerting to the peers
    child_spans: int = 0
    env: dict[str, str] = field(default_factory=dict)
    export_helper: bool = False  # tl-otel's exporters run in a helper process whose CPU is counted too
    otlp: bool = False  # upstream only: the SDK ships traces and logs over OTLP/HTTP to the peers' sink


def command(variant: Variant, bin_dir: Path, port: int) -> list[str]:
    uvicorn = [str(bin_dir / "uvicorn"), "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning",
               "--no-access-log"]
    if variant.server == "plain":
        return [*uvicorn, "benchmarks.app:app"]
    if variant.server == "upstream":
        return [str(bin_dir / "python"), "-m", "benchmarks.upstream_launch", str(port)]
    if variant.server == "tl-otel":
        return [str(bin_dir / "opentelemetry-instrument"), *uvicorn, "benchmarks.app:app"]
    if variant.server == "scout":
        return [*uvicorn, "benchmarks.scout_native_app:app"]
    raise ValueError(f"unknown server kind {variant.server!r}")


def environment(variant: Variant, peers: dict[str, str], tmpdir: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("OTEL_", "TL_OTEL_", "POSTHOG_", "SCOUT_", "BENCH_")) and key != "XDG_RUNTIME_DIR"}
    # Its own TMPDIR (and no XDG_RUNTIME_DIR): tl-otel's default alert store lives there, and must start empty.
    env.update(PYTHONPATH=str(REPO), TMPDIR=tmpdir, OTEL_SERVICE_NAME="bench", OTEL_METRICS_EXPORTER="none",
               BENCH_CHILD_SPANS=str(variant.child_spans))
    if variant.destinations:
        env.update({"POSTHOG_API_KEY": "phc_benchmark_key_000000", "POSTHOG_HOST": peers["posthog"],
                    "SCOUT_KEY": "bench-key", "SCOUT_CORE_AGENT_SOCKET_PATH": peers["scout"],
                    "SCOUT_CORE_AGENT_LAUNCH": "false", "TL_OTEL_ALERTS": "true",
                    "TL_OTEL_ALERT_SLACK_WEBHOOK_URL": peers["webhook"]})
    if variant.otlp:
        # What most teams run: the SDK's OTLP/HTTP exporters behind BatchSpanProcessor and
        # BatchLogRecordProcessor, which the SDK's configurator sets up for these two settings.
        env.update(OTEL_TRACES_EXPORTER="otlp", OTEL_LOGS_EXPORTER="otlp", OTEL_EXPORTER_OTLP_PROTOCOL="http/protobuf",
                   OTEL_EXPORTER_OTLP_ENDPOINT=peers["otlp"])
    if variant.server == "scout":
        env["BENCH_SCOUT_AGENT"] = peers["scout"]
    if variant.export_helper:
        env["BENCH_EXPORT_HELPER"] = "1"
    env.update(variant.env)
    return env


def get_json(port: int, path: str) -> Any:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as response:
        return json.load(response)


def thread_group(name: str) -> str:
    """Whose work a thread does: the application's (the event loop and the threadpool running the sync
    route), tl-otel's own threads, or anything else (OpenTelemetry's batch processors, scout_apm's threads)."""
    if name == "MainThread" or name.startswith("AnyIO worker"):
        return "app"
    if name.startswith("tl-otel"):
        return "tl-otel"
    return "other"


def split_by_thread(pid: int, before: dict[int, tuple[str, float]], after: dict[int, tuple[str, float]],
                    total: float, python_names: dict[str, str]) -> dict[str, float]:
    """CPU seconds of the window by thread group; threads that exited during it are in "other"."""
    main_comm = after.get(pid, before.get(pid, ("", 0.0)))[0]
    groups = {"app": 0.0, "tl-otel": 0.0, "other": 0.0}
    for tid, (comm, seconds) in after.items():
        # A thread named at OS level keeps its name; otherwise (Python < 3.14 names none) ask the process.
        name = comm if comm != main_comm else python_names.get(str(tid), comm)
        groups[thread_group(name)] += seconds - before.get(tid, (comm, 0.0))[1]
    groups["other"] += total - sum(groups.values())
    return groups


def measure(variant: Variant, bin_dir: Path, peers: dict[str, str], warmup: float, duration: float,
            connections: int = 8) -> dict[str, Any]:
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="tl-otel-bench-server-") as tmpdir:
        server = subprocess.Popen(command(variant, bin_dir, port), env=environment(variant, peers, tmpdir), cwd=REPO,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client: subprocess.Popen[str] | None = None
        try:
            try:
                wait_http(f"http://127.0.0.1:{port}/items/0", timeout=60)
            except TimeoutError:
                raise RuntimeError(f"{variant.name}: server did not answer (exit code {server.poll()})") from None
            client = subprocess.Popen([sys.executable, "-m", "benchmarks.load_client", str(port), "--warmup",
                                       str(warmup), "--duration", str(duration), "--connections", str(connections)],
                                      cwd=REPO, stdout=subprocess.PIPE, text=True,
                                      env={**os.environ, "PYTHONPATH": str(REPO)})
            if client.stdout.readline().strip() != "start":
                raise RuntimeError(f"{variant.name}: the load client failed (exit code {client.wait()})")
            helper = get_json(port, "/__bench/helper")["pid"]
            helper_before = process_seconds(helper) if helper else 0.0
            cpu_before, threads_before = snapshot(server.pid)
            gcs_before = get_json(port, "/__bench/gc")["full_collections"]
            load = json.loads(client.stdout.readline())
            cpu_after, threads_after = snapshot(server.pid)
            helper_cpu = process_seconds(helper) - helper_before if helper else 0.0
            gcs_after = get_json(port, "/__bench/gc")["full_collections"]
            python_names = get_json(port, "/__bench/threads")
            client.wait(30)
        finally:
            if client is not None and client.poll() is None:
                client.kill()
                client.wait()
            stop_process(server)
    requests = max(load["requests"], 1)
    cpu = cpu_after - cpu_before
    split = split_by_thread(server.pid, threads_before, threads_after, cpu, python_names)
    split["helper"] = helper_cpu
    cpu += helper_cpu  # every process's CPU: the server's and its export helper's
    return {"requests": load["requests"], "rps": load["requests"] / load["seconds"], "cpu_us": cpu / requests * 1e6,
            "threads_us": {group: seconds / requests * 1e6 for group, seconds in split.items()},
            "full_gcs_per_1k": (gcs_after - gcs_before) / requests * 1000,
            "p50_ms": load["p50_ms"], "p99_ms": load["p99_ms"], "client_cpu_us": load["client_cpu_us"]}
