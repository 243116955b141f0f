"""``./run bench spans``: per-span cost on the application thread (issue #16, item 2). A burst of SERVER spans
through the bare SDK (no processor; BatchSpanProcessor + no-op exporter; BatchSpanProcessor + the OTLP/HTTP
exporter shipping to a local sink, what most teams run), tl-otel's pipeline (one append per
span, three no-op destinations) and tl-otel configured with every destination on (JSON lines to /dev/null,
PostHog to a local capture server, Scout to a fake core agent, both in a separate peers process) and alerting.
Reported as the application thread's own CPU time per span (exporters run on other threads), wall time per span
and full GC collections during the burst; the ratios to SDK + BatchSpanProcessor are paired within a round
(order rotated every round, every variant flushed after its burst), as the median over a run's rounds and the
median of several runs' medians."""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import time
from pathlib import Path
from typing import Any

from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.sampling import DEFAULT_ON
from opentelemetry.trace import SpanKind

from benchmarks.export_helper import SPANS, HelperProcess, PipeExporter
from benchmarks.paired import ratio, rotated, summary
from benchmarks.peers import Peers
from tl_otel.app_thread.processors import FanoutSpanProcessor
from tl_otel.app_thread.sampling import LocalRootRecordingSampler
from tl_otel.pipeline.deadline import Deadline
from tl_otel.pipeline.destination import Destination
from tl_otel.pipeline.fanout import Fanout

BSP, ALL = "SDK + BatchSpanProcessor", "tl-otel, all destinations + alerts"
HELPER = "tl-otel, all, exporting in a helper process"
OTLP = "SDK + BSP, OTLP export"
TARGETS = {"wall": 1.3, "cpu": 1.15}  # tl-otel all ÷ SDK + BSP, issue #16 item 2
TARGET_WALL_VS_OTLP = 1.0  # tl-otel all ÷ the SDK shipping OTLP, issue #26


class NoOpExporter(SpanExporter):
    def export(self, spans):
        return SpanExportResult.SUCCESS


class FullCollections:
    """Counts generation-2 collections of this process (gc.callbacks), to read around a burst."""

    def __init__(self) -> None:
        self.count = 0
        gc.callbacks.append(self._on_gc)

    def _on_gc(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start" and info["generation"] == 2:
            self.count += 1


def providers(peers: dict[str, str], helper: HelperProcess) -> dict[str, tuple[TracerProvider, Fanout | None]]:
    bare = TracerProvider(shutdown_on_exit=False)
    bsp = TracerProvider(shutdown_on_exit=False)
    bsp.add_span_processor(BatchSpanProcessor(NoOpExporter(), max_queue_size=100_000))
    otlp = TracerProvider(shutdown_on_exit=False)
    # A queue that holds the whole burst, as for the no-op BSP: dropping spans would price it cheaper.
    otlp.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=f"{peers['otlp']}/v1/traces"),
                                               max_queue_size=100_000))
    ours = TracerProvider(sampler=LocalRootRecordingSampler(DEFAULT_ON), shutdown_on_exit=False)
    fanout = Fanout("spans", [Destination(f"d{i}", NoOpExporter(), 100_000) for i in range(3)], 100_000, 512, 1.0)
    ours.add_span_processor(FanoutSpanProcessor(fanout, 5))
    runtime = _configured_with_everything(peers)
    return {"SDK, no processor": (bare, None), BSP: (bsp, None), OTLP: (otlp, None),
            "tl-otel pipeline (3 destinations)": (ours, fanout),
            ALL: (runtime.tracer_provider, runtime.span_fanout), HELPER: _exporting_in_helper(runtime, helper)}


def _exporting_in_helper(runtime: Any, helper: HelperProcess) -> tuple[TracerProvider, Fanout]:
    """The same application-thread processors and dispatcher as ``ALL`` (read off its provider), with one
    destination: the pipe to the helper process, which runs the exporters (benchmarks/export_helper.py)."""
    from tl_otel.pipeline import span_record
    from tl_otel.redaction import current

    provider = TracerProvider(sampler=runtime.tracer_provider.sampler, resource=runtime.tracer_provider.resource,
                              shutdown_on_exit=False)
    fanout = Fanout("spans-helper", [Destination("helper", PipeExporter(helper, SPANS), 100_000, takes_records=True)],
                    100_000, 512, 1.0, prepare=current().redact_span, record=span_record.from_span)
    # The SDK keeps its processors in a private tuple: the benchmark copies them so both variants run the same.
    for processor in runtime.tracer_provider._active_span_processor._span_processors:
        provider.add_span_processor(FanoutSpanProcessor(fanout, 5) if isinstance(processor, FanoutSpanProcessor)
                                    else processor)
    return provider, fanout


def _configured_with_everything(peers: dict[str, str]) -> Any:
    import os

    import tl_otel
    from tl_otel.exporters.jsonl.stream import LineWriter

    runtime = tl_otel.configure(instrument=False, env={
        "OTEL_SERVICE_NAME": "bench", "POSTHOG_API_KEY": "phc_benchmark_key_000000", "POSTHOG_HOST": peers["posthog"],
        "SCOUT_KEY": "bench-key", "SCOUT_CORE_AGENT_SOCKET_PATH": peers["scout"], "SCOUT_CORE_AGENT_LAUNCH": "false",
        "OTEL_TRACES_EXPORTER": "json,posthog,scout",
        "OTEL_LOGS_EXPORTER": "none", "OTEL_METRICS_EXPORTER": "none", "TL_OTEL_ALERTS": "true",
        "TL_OTEL_ALERT_SLACK_WEBHOOK_URL": peers["webhook"],
        # Queues that hold a whole burst: a destination that drops spans would be priced cheaper than one that
        # delivers them (the fake agent answers more slowly than the burst arrives)
        "TL_OTEL_ALERT_STORE": "process", "TL_OTEL_SPAN_QUEUE_SIZE": "100000", "TL_OTEL_SCOUT_QUEUE_SIZE": "100000",
        "TL_OTEL_HANDLE_SIGTERM": "false"})
    devnull = os.open(os.devnull, os.O_WRONLY)
    runtime.exporter_objects["traces"]["json"].options.writer = LineWriter(devnull, devnull)
    return runtime


def _helper_env(peers: dict[str, str]) -> dict[str, str]:
    return {"OTEL_SERVICE_NAME": "bench", "POSTHOG_API_KEY": "phc_benchmark_key_000000",
            "POSTHOG_HOST": peers["posthog"], "SCOUT_KEY": "bench-key", "SCOUT_CORE_AGENT_SOCKET_PATH": peers["scout"],
            "SCOUT_CORE_AGENT_LAUNCH": "false", "TL_OTEL_SCOUT_QUEUE_SIZE": "100000"}


def process_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def burst(provider: TracerProvider, spans: int, collections: FullCollections) -> dict[str, float]:
    tracer = provider.get_tracer("bench")
    attributes = {"http.method": "GET", "http.route": "/items/{id}", "http.status_code": 200}
    gcs_before = collections.count
    started, cpu_started = time.perf_counter(), time.thread_time()
    for index in range(spans):
        with tracer.start_as_current_span("GET /items/{id}", kind=SpanKind.SERVER, attributes=attributes) as span:
            span.set_attribute("http.target", f"/items/{index}")
    cpu, wall = time.thread_time() - cpu_started, time.perf_counter() - started
    return {"cpu": cpu / spans * 1e6, "wall": wall / spans * 1e6, "full_gcs": collections.count - gcs_before}


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="./run bench spans", description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="rounds per run (every variant once per round)")
    parser.add_argument("--runs", type=int, default=3, help="runs; each ratio is the median of the runs' medians")
    parser.add_argument("--spans", type=int, default=10_000, help="spans per burst")
    return parser.parse_args(argv)


def run(argv: list[str] | None = None) -> None:
    options = parse(argv or [])
    collections = FullCollections()
    peers = Peers()
    helper = HelperProcess(_helper_env(peers.addresses))
    try:
        variants = providers(peers.addresses, helper)
        runs: list[list[dict[str, dict[str, float]]]] = []
        for run_index in range(options.runs):
            rounds = []
            for round_index in range(options.rounds):
                results = {}
                for name in rotated(list(variants), run_index * options.rounds + round_index):
                    provider, fanout = variants[name]
                    helper_before = process_cpu(helper.pid)
                    results[name] = burst(provider, options.spans, collections)
                    # Flushed before the next burst, so no variant's burst competes with another's backlog.
                    provider.force_flush()
                    if fanout is not None:
                        fanout.force_flush(Deadline(30))
                    if name == HELPER:  # the flush waited for the helper to export everything
                        results[name]["helper_cpu"] = (process_cpu(helper.pid) - helper_before) / options.spans * 1e6
                rounds.append(results)
            runs.append(rounds)
        variants[ALL][1].force_flush(Deadline(30))
        arrived = peers.counts()
    finally:
        import tl_otel

        tl_otel.shutdown(10)  # before the peers go, or it reports the agent's connection lost
        helper.stop()
        peers.stop()
    show(options, runs, arrived)


def show(options: argparse.Namespace, runs: list[list[dict[str, dict[str, float]]]], arrived: dict[str, Any]) -> None:
    every = [results for rounds in runs for results in rounds]
    print(f"\nPer-span cost on the application thread (issue #16 item 2): {options.runs} runs x {options.rounds}"
          f" rotated rounds x {options.spans} SERVER spans; µs per span, median over all rounds; ÷ BSP paired per"
          " round: median of the run medians [each run's median]")
    print(f"{'variant':36s} {'thread CPU µs':>13s} {'÷ BSP':>24s} {'wall µs':>8s} {'÷ BSP':>24s}"
          f" {'full GCs/burst':>14s}")
    for name in every[0]:
        cells = []
        for key in ("cpu", "wall"):
            found = summary([[{n: r[key] for n, r in results.items()} for results in rounds] for rounds in runs],
                            ratio(name, BSP))
            paired = f"{found['median']:.2f}x [{' '.join(f'{v:.2f}' for v in found['runs'])}]" if found else ""
            cells.append(f"{statistics.median(r[name][key] for r in every):{13 if key == 'cpu' else 8}.2f}"
                         f" {paired:>24s}")
        print(f"{name:36s} {cells[0]} {cells[1]} {statistics.median(r[name]['full_gcs'] for r in every):14g}")
    print(f"targets for {ALL} ÷ {BSP}: wall ≤ {TARGETS['wall']}x, thread CPU ≤ {TARGETS['cpu']}x")
    for key in ("cpu", "wall"):
        found = summary([[{n: r[key] for n, r in results.items()} for results in rounds] for rounds in runs],
                        ratio(ALL, OTLP))
        if found:
            target = f"   target ≤ {TARGET_WALL_VS_OTLP}x" if key == "wall" else ""
            print(f"{ALL} ÷ {OTLP}, {key}: {found['median']:.2f}x"
                  f" [{' '.join(f'{v:.2f}' for v in found['runs'])}]{target}")
    helper_cpu = [r[HELPER]["helper_cpu"] for r in every if "helper_cpu" in r.get(HELPER, {})]
    if helper_cpu:
        print(f"{HELPER}: the helper process's own CPU, {statistics.median(helper_cpu):.2f} µs per span (median"
              " over rounds), on top of the application process's")
    events = sum(arrived["posthog_events"].values())
    print(f"delivered by {ALL}: {events} PostHog events, {arrived['scout_batches']} Scout batches"
          + ("   <- NOTHING ARRIVED" if not (events and arrived["scout_batches"]) else ""))
    print(f"delivered by {OTLP}: {arrived['otlp_spans']} spans"
          + ("   <- NOTHING ARRIVED" if not arrived["otlp_spans"] else ""))
