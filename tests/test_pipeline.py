"""The span pipeline in-process: one append per span, per-destination isolation, counted drops,
sampling that still shows local roots to tl-otel's processors, and fork safety. In-memory exporters
stand in for backends here (unit level); the end-to-end tests use real processes."""

from __future__ import annotations

import os
import threading
import time

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ALWAYS_ON, ParentBased
from opentelemetry.trace import SpanKind

from examples.peers.waiting import wait_for
from tl_otel.app_thread.processors import FanoutSpanProcessor
from tl_otel.app_thread.sampling import LocalRootRecordingSampler
from tl_otel.pipeline.deadline import Deadline
from tl_otel.pipeline.destination import Destination
from tl_otel.pipeline.fanout import Fanout


class BlockingExporter(InMemorySpanExporter):
    """Hangs in export until released, like a backend that accepts and never answers."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()

    def export(self, spans):
        self.release.wait()
        return super().export(spans)


def pipeline(*exporters, capacity=1000, batch=100, delay=0.05, sampler=ALWAYS_ON, accepts_unsampled=()):
    destinations = [
        Destination(f"d{index}", exporter, capacity,
                    None if index in accepts_unsampled else (lambda s: s.context.trace_flags.sampled))
        for index, exporter in enumerate(exporters)
    ]
    fanout = Fanout("spans", destinations, capacity, batch, delay)
    provider = TracerProvider(sampler=sampler, shutdown_on_exit=False)
    provider.add_span_processor(FanoutSpanProcessor(fanout, 5.0))
    return provider, fanout, destinations


def emit(provider, count, kind=SpanKind.SERVER):
    tracer = provider.get_tracer("test")
    for index in range(count):
        with tracer.start_as_current_span(f"span-{index}", kind=kind):
            pass


def test_each_span_is_appended_once_whatever_the_number_of_destinations():
    exporters = [InMemorySpanExporter() for _ in range(3)]
    provider, fanout, _ = pipeline(*exporters, delay=60)
    emit(provider, 50)
    assert len(fanout._items) == 50  # one queue entry per span, not one per destination
    assert fanout.force_flush(Deadline(5))
    assert [len(e.get_finished_spans()) for e in exporters] == [50, 50, 50]


def test_a_hung_destination_does_not_delay_another():
    hung, healthy = BlockingExporter(), InMemorySpanExporter()
    provider, fanout, _destinations = pipeline(hung, healthy)
    emit(provider, 200)
    deadline = Deadline(5)
    while len(healthy.get_finished_spans()) < 200 and not deadline.expired:
        time.sleep(0.01)
    assert len(healthy.get_finished_spans()) == 200
    assert hung.get_finished_spans() == ()
    started = time.monotonic()
    assert fanout.shutdown(Deadline(1.0)) is False  # the hung one could not finish
    assert time.monotonic() - started < 4
    hung.release.set()


def test_a_full_destination_drops_and_counts_without_blocking_the_application():
    hung = BlockingExporter()
    provider, fanout, [destination] = pipeline(hung, capacity=50, batch=10, delay=0.01)
    emit(provider, 500)
    fanout.force_flush(Deadline(0.5))
    stats = destination.stats
    assert stats.dropped_queue_full > 0
    assert stats.dropped_queue_full + destination.queue_depth + fanout.dropped <= 500
    hung.release.set()
    assert fanout.force_flush(Deadline(5))
    assert len(hung.get_finished_spans()) + stats.dropped_queue_full + fanout.dropped == 500


def test_fanout_queue_overflow_is_counted():
    exporter = InMemorySpanExporter()
    provider, fanout, _ = pipeline(exporter, capacity=10, batch=1000, delay=60)
    emit(provider, 25)
    assert fanout.dropped == 15
    fanout.force_flush(Deadline(5))
    assert len(exporter.get_finished_spans()) == 10


def test_an_exporter_that_always_raises_is_counted_without_one_call_per_item():
    class Broken(InMemorySpanExporter):
        calls = 0

        def export(self, spans):
            self.calls += 1
            raise RuntimeError("backend exploded")

    broken = Broken()
    provider, fanout, [destination] = pipeline(broken, batch=64, delay=60)
    emit(provider, 64)
    fanout.force_flush(Deadline(5))
    assert destination.stats.failed == 64 and destination.stats.by_reason == {"RuntimeError": 64}
    assert broken.calls == 3  # the batch, then its two halves: both raise, so splitting stops
    emit(provider, 5)
    fanout.force_flush(Deadline(5))
    assert destination.stats.failed == 69  # the worker is still running


def test_a_poison_item_costs_only_itself():
    class Picky(InMemorySpanExporter):
        calls = 0

        def export(self, spans):
            self.calls += 1
            if any(span.name == "span-37" for span in spans):
                raise TypeError("cannot encode this one")
            return super().export(spans)

    picky = Picky()
    provider, fanout, [destination] = pipeline(picky, batch=64, delay=60)
    emit(provider, 64)
    fanout.force_flush(Deadline(5))
    exported = [span.name for span in picky.get_finished_spans()]
    assert len(exported) == 63 and "span-37" not in exported
    assert destination.stats.failed == 1 and destination.stats.by_reason == {"TypeError": 1}
    assert picky.calls <= 1 + 2 * 6  # log2(64) levels of two calls


def test_unsampled_local_roots_reach_processors_that_ask_for_them_but_no_exporter():
    exporter, business = InMemorySpanExporter(), InMemorySpanExporter()
    sampler = LocalRootRecordingSampler(ParentBased(ALWAYS_OFF))
    provider, fanout, _ = pipeline(exporter, business, sampler=sampler, accepts_unsampled=(1,))
    tracer = provider.get_tracer("test")
    with tracer.start_as_current_span("GET /x", kind=SpanKind.SERVER), tracer.start_as_current_span("child"):
        pass
    fanout.force_flush(Deadline(5))
    assert exporter.get_finished_spans() == ()
    [root] = business.get_finished_spans()
    assert root.name == "GET /x" and not root.context.trace_flags.sampled  # children stay dropped


def test_a_forked_child_exports_only_its_own_spans():
    exporter = InMemorySpanExporter()
    provider, fanout, _ = pipeline(exporter, delay=60)
    emit(provider, 3)  # queued in the parent, not yet exported
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        try:
            emit(provider, 2)
            fanout.force_flush(Deadline(5))
            names = ",".join(sorted(s.name for s in exporter.get_finished_spans()))
            os.write(write, names.encode())
        finally:
            os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    child_names = os.read(read, 1000).decode()
    assert child_names == "span-0,span-1"  # the parent's three queued spans were not exported twice
    fanout.force_flush(Deadline(5))
    assert sorted(s.name for s in exporter.get_finished_spans()) == ["span-0", "span-1", "span-2"]


def test_loss_is_reported_once_when_it_starts_and_once_when_it_stops():
    import logging

    from tl_otel.pipeline.loss import LossMonitor

    messages: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: messages.append(record.getMessage())
    logging.getLogger("tl_otel").addHandler(handler)
    counters = {"queue full": 0}
    try:
        monitor = LossMonitor("destination traces-posthog", lambda: counters, quiet_after=5.0)
        for second in range(10):  # ten seconds of loss, polled every second
            counters["queue full"] += 100
            monitor.poll(float(second))
        counters["export failed: HTTPError"] = 7
        monitor.poll(10.0)
        monitor.poll(12.0)  # quiet for 2 s: still an episode
        monitor.poll(15.5)  # quiet for 5.5 s: it ended
        monitor.poll(30.0)
    finally:
        logging.getLogger("tl_otel").removeHandler(handler)
    assert messages == [
        "destination traces-posthog: started losing items (queue full 100); tl-otel will say when it stops",
        "destination traces-posthog: stopped losing items; 1007 lost over 10 s "
        "(export failed: HTTPError 7, queue full 1000)",
    ]
    assert monitor.episodes == 1 and not monitor.losing


def test_a_hung_destination_filling_up_warns_once_not_per_batch():
    import logging

    messages: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: messages.append(record.getMessage())
    logging.getLogger("tl_otel").addHandler(handler)
    hung = BlockingExporter()
    try:
        provider, _, [destination] = pipeline(hung, capacity=50, batch=10, delay=0.01)
        for _ in range(20):
            emit(provider, 10)
            time.sleep(0.02)
        time.sleep(0.6)
        assert destination.stats.dropped_queue_full > 100
        started = [m for m in messages if "started losing" in m]
        assert len(started) == 1 and started[0].startswith("destination d0: started losing items (queue full")
    finally:
        hung.release.set()
        logging.getLogger("tl_otel").removeHandler(handler)


def test_a_failing_backend_opens_the_circuit_and_queued_items_wait_for_the_trial(monkeypatch):
    from tl_otel.pipeline import destination as destination_module

    monkeypatch.setattr(destination_module, "BREAKER_COOLDOWN", 0.5)

    class Down(InMemorySpanExporter):
        up = False
        calls = 0

        def export(self, spans):
            self.calls += 1
            if not self.up:
                from opentelemetry.sdk.trace.export import SpanExportResult

                return SpanExportResult.FAILURE
            return super().export(spans)

    down = Down()
    provider, _, [destination] = pipeline(down, batch=1, delay=0.01)
    emit(provider, 3)  # three failed exports in a row: the circuit opens
    assert wait_for_value(lambda: destination.stats.circuit_open)
    calls = down.calls
    emit(provider, 5)  # queued, not attempted while the circuit is open
    time.sleep(0.2)
    assert down.calls == calls and destination.queue_depth == 5
    assert destination.flush(Deadline(5)) is False  # says so at once rather than waiting out the deadline
    down.up = True  # the backend is back: the trial after the cool-down succeeds, the backlog follows
    assert wait_for_value(lambda: destination.stats.exported == 5, 5)
    assert destination.stats.circuit_opened == 1 and not destination.stats.circuit_open
    assert destination.stats.failed == 3


def wait_for_value(predicate, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return False


def test_shutdown_steps_run_when_no_thread_can_start(monkeypatch):
    # Python 3.12+ raises this from Thread.start() once the interpreter is finalizing - when atexit runs
    # tl-otel's shutdown (.ci/python-versions covers it on the real interpreters; this suite runs on 3.11).
    def refuse(self):
        raise RuntimeError("can't create new thread at interpreter shutdown")

    monkeypatch.setattr(threading.Thread, "start", refuse)
    ran = []
    results = Deadline(5).run_concurrently({"spans": lambda: ran.append("spans"), "logs": lambda: False})
    assert ran == ["spans"] and results == {"spans": True, "logs": False}


class CountingExporter(InMemorySpanExporter):
    """Records the size of every export call; prefers large batches, as PostHog's exporter does."""

    preferred_batch_items = 60
    batch_linger = 60.0

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[int] = []

    def export(self, spans):
        self.calls.append(len(spans))
        return super().export(spans)


def test_an_exporter_that_prefers_large_batches_gets_queued_batches_joined_and_a_flush_does_not_wait():
    exporter = CountingExporter()
    destination = Destination("joined", exporter, capacity=1000)
    try:
        for index in range(10):
            destination.offer([f"item-{index}-{n}" for n in range(10)])
        # 60 items were queued (the preferred size): exported at once, in one call, without the linger.
        assert wait_for(lambda: sum(exporter.calls) >= 60, 30)
        assert exporter.calls[0] == 60
        # The remaining 40 wait for more (the linger is a minute): a flush sends them at once, in order.
        assert destination.flush(Deadline(30))
        assert sum(exporter.calls) == 100 and max(exporter.calls) <= 60
        assert exporter.get_finished_spans() == tuple(f"item-{i}-{n}" for i in range(10) for n in range(10))
        assert destination.stats.exported == 100
    finally:
        destination.shutdown(Deadline(5))


def test_a_preferred_batch_is_at_most_half_the_queue_and_other_exporters_get_each_batch_as_offered():
    exporter = CountingExporter()
    small = Destination("small-queue", exporter, capacity=50)
    assert small.batch_target == 25
    small.shutdown(Deadline(5))
    plain = InMemorySpanExporter()
    destination = Destination("plain", plain, capacity=1000)
    try:
        assert destination.batch_target == 0
        destination.offer(["a", "b"])
        destination.offer(["c"])
        assert destination.flush(Deadline(10)) and plain.get_finished_spans() == ("a", "b", "c")
    finally:
        destination.shutdown(Deadline(5))



def test_what_a_hung_destination_holds_is_counted_once_whoever_counts_first():
    # The runtime counts a late destination's items itself at the deadline, while that destination's own
    # shutdown may still be waiting on a hung export: the end-of-process summary must have the numbers either way,
    # and never twice.
    release = threading.Event()

    class Hung(InMemorySpanExporter):
        def export(self, spans):
            release.wait(60)
            return super().export(spans)

    destination = Destination("hung", Hung(), capacity=100)
    try:
        destination.offer(["a", "b", "c"])
        assert wait_for(lambda: destination.in_flight == 3, 30)
        destination.offer(["d"])
        destination.account_undelivered()  # the runtime, at the deadline
        assert destination.stats.failed == 4
        assert destination.stats.by_reason == {"unconfirmed_in_flight_at_shutdown": 3,
                                               "never_sent_shutdown_deadline": 1}
        destination.account_undelivered()
        destination.shutdown(Deadline(0.5))  # the destination's own shutdown, later
        assert destination.stats.failed == 4
    finally:
        release.set()
