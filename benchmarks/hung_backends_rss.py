"""Memory with every backend hung: a process emitting 1,000 spans/s and 1,000 log records/s for
BENCH_RSS_SECONDS (default 600) while PostHog and OTLP accept connections and never answer, the Scout core
agent accepts frames and never replies, stdout is a pipe nobody reads, and the alert webhook hangs. Reports
RSS above the baseline taken after start-up, sampled every 10 s, and the slope over the second half (flat
once every queue is full). Usage: ./run bench rss [seconds]."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from examples.peers.fake_core_agent import FakeCoreAgent
from examples.peers.hanging import HangingServer
from examples.processes import REPO

EMITTER = r"""
import logging, os, sys, time
import tl_otel
from opentelemetry import trace
tl_otel.configure(service_name="rss-bench", instrument=False)
tracer = trace.get_tracer("bench")
log = logging.getLogger("bench")
print("READY", os.getpid(), file=sys.stderr, flush=True)
tick, index = time.monotonic(), 0
while True:
    for _ in range(100):
        index += 1
        with tracer.start_as_current_span("GET /items/{id}", kind=trace.SpanKind.SERVER,
                                          attributes={"http.route": "/items/{id}", "http.target": f"/items/{index}",
                                                      "http.status_code": 200}):
            log.warning("item %d served", index, extra={"item": index})
    tick += 0.1
    time.sleep(max(0.0, tick - time.monotonic()))
"""


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def run(seconds: float | None = None) -> None:
    seconds = float(seconds or os.environ.get("BENCH_RSS_SECONDS", 600))
    hanging = HangingServer()
    url = hanging.url
    folder = tempfile.mkdtemp(prefix="tl-otel-rss-")
    agent = FakeCoreAgent(os.path.join(folder, "core-agent.sock"), reply=False)
    env = {key: value for key, value in os.environ.items() if not key.startswith(("OTEL_", "TL_OTEL_"))}
    env.update(PYTHONPATH=str(REPO), POSTHOG_API_KEY="phc_rssbenchmarkkey0000", POSTHOG_HOST=url,
               SCOUT_KEY="rss-bench-key", SCOUT_MONITOR="true", SCOUT_CORE_AGENT_SOCKET_PATH=agent.address,
               SCOUT_CORE_AGENT_LAUNCH="false", OTEL_TRACES_EXPORTER="json,posthog,scout,otlp",
               OTEL_LOGS_EXPORTER="json,posthog,otlp", OTEL_METRICS_EXPORTER="none",
               OTEL_EXPORTER_OTLP_ENDPOINT=url, TL_OTEL_ALERTS="true", TL_OTEL_ALERT_SLACK_WEBHOOK_URL=url + "/hook",
               TL_OTEL_ALERT_STORE="process")
    emitter = subprocess.Popen([sys.executable, "-c", EMITTER], env=env, cwd=REPO, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE)  # stdout: a pipe nobody reads
    try:
        assert emitter.stderr is not None
        emitter.stderr.readline()  # READY
        threading.Thread(target=emitter.stderr.read, daemon=True).start()  # keep stderr drained
        time.sleep(2)
        baseline = rss_kib(emitter.pid)
        samples: list[tuple[float, int]] = []
        started = time.monotonic()
        while time.monotonic() - started < seconds:
            time.sleep(10)
            samples.append((time.monotonic() - started, rss_kib(emitter.pid) - baseline))
    finally:
        emitter.kill()
        emitter.wait()
        agent.stop()
        hanging.stop()
    peak = max(growth for _, growth in samples)
    half = [s for s in samples if s[0] >= seconds / 2] or samples
    slope = (half[-1][1] - half[0][1]) / max(half[-1][0] - half[0][0], 1) * 60
    print(f"RSS with every backend hung, {seconds:.0f} s at 1,000 spans/s + 1,000 logs/s")
    print(f"  baseline {baseline / 1024:.1f} MiB; growth above it: peak {peak / 1024:.1f} MiB, "
          f"final {samples[-1][1] / 1024:.1f} MiB; second-half slope {slope / 1024:+.2f} MiB/min")
    print("  samples (s: MiB above baseline): "
          + ", ".join(f"{t:.0f}: {g / 1024:.1f}" for t, g in samples[:: max(1, len(samples) // 12)]))


if __name__ == "__main__":
    run(float(sys.argv[1]) if len(sys.argv) > 1 else None)
