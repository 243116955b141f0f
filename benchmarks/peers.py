"""The benchmarks' stand-ins for PostHog, Scout's core agent, a Slack webhook and an OTLP collector, in a
process of their own (``python -m benchmarks.peers``) so the CPU they spend receiving is neither the server's
nor the benchmark's.

Protocol on stdin/stdout, one JSON line each: it prints the peers' addresses once they listen; each ``counts``
line read from stdin is answered with what has arrived so far (PostHog events by name, the agent's
BatchCommands, webhook messages, OTLP spans and log records), and what was recorded is dropped (a full
benchmark run would otherwise keep hundreds of thousands of events in memory); it stops when stdin closes.
``Peers`` is the benchmark's side."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections import Counter
from typing import IO, Any

from examples.processes import REPO


def serve(stdin: IO[str], stdout: IO[str]) -> None:
    from examples.peers.fake_core_agent import FakeCoreAgent
    from examples.peers.otlp_sink import OtlpSink
    from examples.peers.posthog_capture import PostHogCapture
    from examples.peers.webhook import WebhookReceiver

    folder = tempfile.TemporaryDirectory(prefix="tl-otel-bench-")
    capture, hook, otlp = PostHogCapture(), WebhookReceiver(), OtlpSink()
    agent = FakeCoreAgent(os.path.join(folder.name, "agent.sock"))
    events: Counter[str] = Counter()
    batches = webhooks = otlp_spans = otlp_log_records = 0
    print(json.dumps({"posthog": capture.url, "scout": agent.address, "webhook": hook.url, "otlp": otlp.url}),
          file=stdout, flush=True)
    try:
        for line in stdin:
            if line.strip() != "counts":
                continue
            with capture._lock:
                received, capture.received = capture.received, []
            events.update(event.get("event", "?") for request in received if request.body and request.status == 200
                          for event in request.body.get("batch", []))
            with agent._lock:
                messages, agent.messages = agent.messages, []
                agent.frame_sizes.clear()
            batches += sum(1 for message in messages if "BatchCommand" in message)
            webhooks += len(hook.received)
            hook.received.clear()
            arrived = otlp.take()
            otlp_spans += arrived["spans"]
            otlp_log_records += arrived["log_records"]
            print(json.dumps({"posthog_events": dict(events), "scout_batches": batches, "webhooks": webhooks,
                              "otlp_spans": otlp_spans, "otlp_log_records": otlp_log_records}),
                  file=stdout, flush=True)
    finally:
        capture.stop()
        agent.stop()
        hook.stop()
        otlp.stop()
        folder.cleanup()


class Peers:
    """The peers process seen from the benchmark: its addresses, and what has arrived there."""

    def __init__(self, python: str = sys.executable, pinned: list[str] | None = None) -> None:
        # ``pinned``: a command prefix (taskset) that keeps every thread of the peers off the server's core
        self._process = subprocess.Popen([*(pinned or []), python, "-m", "benchmarks.peers"], cwd=REPO, text=True,
                                         stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                         env={**os.environ, "PYTHONPATH": str(REPO)})
        self.addresses: dict[str, str] = json.loads(self._process.stdout.readline())

    def counts(self) -> dict[str, Any]:
        self._process.stdin.write("counts\n")
        self._process.stdin.flush()
        return json.loads(self._process.stdout.readline())

    def stop(self) -> None:
        self._process.stdin.close()
        try:
            self._process.wait(30)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()


if __name__ == "__main__":
    serve(sys.stdin, sys.stdout)
