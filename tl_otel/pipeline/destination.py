"""One destination: a bounded queue of batches, one worker thread and one exporter.

Each exporter gets its own, so a slow or dead backend only ever fills its own queue: the dispatcher hands
batches over without waiting, and a full destination drops (and counts) instead of pushing back."""

from __future__ import annotations

import os
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from opentelemetry.context import _SUPPRESS_INSTRUMENTATION_KEY, attach, detach, set_value

from tl_otel.diagnostics.self_log import logger
from tl_otel.pipeline.deadline import Deadline

# Circuit breaker: this many failed exports in a row open it for BREAKER_COOLDOWN seconds, doubling (each
# failed trial) up to BREAKER_MAX_COOLDOWN.
BREAKER_FAILURES = 3
BREAKER_COOLDOWN = 5.0
BREAKER_MAX_COOLDOWN = 60.0
# An exporter whose every call costs much (PostHog: one HTTP request) may declare, as class attributes,
# ``preferred_batch_items`` and ``batch_linger`` (seconds): its destination then joins queued batches up to
# that many items (never more than half its queue, which keeps filling meanwhile), waiting up to the linger
# for them to add up. Flushing and shutdown never wait for it.
PREFERRED_BATCH_ITEMS = "preferred_batch_items"
BATCH_LINGER = "batch_linger"
# An exporter whose export returns before its items have surely arrived (a line writer that meets a closed pipe,
# a socket client whose peer never acknowledges) may say what it lost since: ``losses_after_export()`` returns
# cumulative counts by reason of items it had been handed, and the destination moves them from exported to
# failed, so health(), the loss warnings and the exit summary never count them as delivered.
LOSSES_AFTER_EXPORT = "losses_after_export"


class BatchExporter(Protocol):
    """What a destination needs: the shape shared by OTel's span and log record exporters."""

    def export(self, batch: Sequence[Any]) -> Any: ...

    def shutdown(self) -> None: ...


@dataclass
class DestinationStats:
    exported: int = 0
    failed: int = 0
    dropped_queue_full: int = 0
    dropped_after_shutdown: int = 0
    last_success: float | None = None
    last_error: str | None = None
    by_reason: dict[str, int] = field(default_factory=dict)
    circuit_opened: int = 0  # times the circuit breaker opened
    circuit_open: bool = False


def _succeeded(result: Any) -> bool:
    # SpanExportResult / LogRecordExportResult are enums whose SUCCESS member is named "SUCCESS";
    # an exporter returning None is treated as success, as the SDK's processors do.
    return result is None or getattr(result, "name", None) == "SUCCESS"


class Destination:
    def __init__(
        self,
        name: str,
        exporter: BatchExporter,
        capacity: int,
        accepts: Callable[[Any], bool] | None = None,
        takes_records: bool = False,
        batch_items: int = 0,
        linger: float = 0.0,
    ) -> None:
        """``takes_records``: the exporter reads the fanout's compact records instead of SDK objects.
        ``batch_items`` / ``linger``: join batches up to that many items, waiting up to ``linger`` seconds,
        when the exporter does not say what it prefers (see PREFERRED_BATCH_ITEMS)."""
        self.name = name
        self.exporter = exporter
        self.capacity = capacity
        self.accepts = accepts
        self.takes_records = takes_records
        self.stats = DestinationStats()
        preferred = getattr(exporter, PREFERRED_BATCH_ITEMS, None)
        self.batch_target = min(int(preferred if preferred is not None else batch_items) or 0, capacity // 2)
        preferred_linger = getattr(exporter, BATCH_LINGER, None)
        self.linger = float(preferred_linger if preferred_linger is not None else linger) or 0.0
        self._later_losses: Callable[[], Mapping[str, int]] | None = getattr(exporter, LOSSES_AFTER_EXPORT, None)
        self._reconciled: dict[str, int] = {}
        self._reconcile_lock = threading.Lock()
        self._init_state()
        weak = weakref.WeakMethod(self._after_fork_in_child)
        os.register_at_fork(after_in_child=lambda: (method := weak()) and method())

    def _init_state(self) -> None:
        self._batches: deque[Sequence[Any]] = deque()
        self._queued_items = 0
        self._in_flight = 0
        self._cond = threading.Condition(threading.Lock())
        self._stopping = False
        self._draining = False  # shutdown: the breaker's cool-down no longer holds batches back
        self._flushes = 0  # flushes waiting: the worker does not linger for a larger batch meanwhile
        self._lingering = False
        self._due = False  # what is queued has waited the schedule delay already: no more lingering
        self._oldest_arrival = 0.0
        self._consecutive_failures = 0
        self._open_until = 0.0
        self._cooldown = 0.0
        self._shut_down = False
        self._accounted = False  # what shutdown left undelivered has been counted
        self._worker = threading.Thread(target=self._run, name=f"tl-otel-export-{self.name}", daemon=True)
        self._worker.start()

    def _after_fork_in_child(self) -> None:
        # Batches queued in the parent belong to the parent: the child starts empty, with new locks and
        # a new worker, so each item is exported once, by the process that made it.
        self._init_state()

    @property
    def queue_depth(self) -> int:
        return self._queued_items

    @property
    def in_flight(self) -> int:
        """Items handed to the exporter and not yet answered."""
        return self._in_flight

    def reconcile(self) -> None:
        """Move what the exporter lost after an export was counted (``LOSSES_AFTER_EXPORT``) from exported to
        failed, by reason. Called after each export and by whoever reads the counters."""
        later = self._later_losses
        if later is None:
            return
        try:
            current = dict(later())
        except Exception:  # an exporter's counters must not break health() or the worker
            return
        with self._reconcile_lock:
            stats = self.stats
            for reason, count in current.items():
                delta = count - self._reconciled.get(reason, 0)
                if delta <= 0:
                    continue
                self._reconciled[reason] = count
                stats.exported -= delta
                stats.failed += delta
                stats.by_reason[reason] = stats.by_reason.get(reason, 0) + delta
                stats.last_error = f"{reason} at {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}"

    def loss_counters(self) -> dict[str, int]:
        """What this destination lost, by reason (the LossMonitor's input)."""
        self.reconcile()
        counters = {f"export failed: {reason}": count for reason, count in self.stats.by_reason.items()}
        counters["queue full"] = self.stats.dropped_queue_full
        return counters

    def offer(self, batch: Sequence[Any], due: bool = False) -> None:
        """``due``: the items have already waited the schedule delay; a worker lingering for a larger batch
        exports what it has."""
        if self.accepts is not None:
            batch = self._accepted(batch)
        if not batch:
            if due and self._lingering:
                with self._cond:
                    self._due = True
                    self._cond.notify()
            return
        with self._cond:
            if self._shut_down:
                self.stats.dropped_after_shutdown += len(batch)
                return
            if self._queued_items + len(batch) > self.capacity:
                self.stats.dropped_queue_full += len(batch)  # reported by the dispatcher's LossMonitor
                return
            if not self._batches:
                self._oldest_arrival = time.monotonic()
            self._batches.append(batch)
            self._queued_items += len(batch)
            self._due = self._due or due
            # A worker lingering for a larger batch is woken only once there is one, or the items are due
            # (waking it for every small batch the dispatcher hands over would cost a thread switch each).
            if not self._lingering or self._due or self._queued_items >= self.batch_target:
                self._cond.notify()

    def _accepted(self, batch: Sequence[Any]) -> list[Any]:
        accepts = self.accepts
        try:
            return [item for item in batch if accepts(item)]  # type: ignore[misc]
        except Exception:
            pass
        # A filter that raises (an exporter's ``wants``) costs only the items it raised on, counted; it must
        # not stop the dispatcher that called it.
        kept = []
        for item in batch:
            try:
                if accepts(item):  # type: ignore[misc]
                    kept.append(item)
            except Exception:
                self.stats.failed += 1
                self.stats.by_reason["filter_failed"] = self.stats.by_reason.get("filter_failed", 0) + 1
        return kept

    def _run(self) -> None:
        token = attach(set_value(_SUPPRESS_INSTRUMENTATION_KEY, True))
        try:
            while True:
                with self._cond:
                    while not self._batches and not self._stopping:
                        self._cond.wait()
                    if not self._batches and self._stopping:
                        return
                    # Circuit open: the batch stays queued (the queue's capacity still bounds it) until the
                    # cool-down ends, so a backend that keeps failing is not hammered.
                    while not self._draining and time.monotonic() < self._open_until:
                        self._cond.wait(self._open_until - time.monotonic())
                    batch = self._next_batch()
                    self._in_flight = len(batch)
                try:
                    self._export(batch)
                finally:
                    with self._cond:
                        self._queued_items -= len(batch)
                        self._in_flight = 0
                        self._cond.notify_all()
        finally:
            detach(token)

    def _next_batch(self) -> Sequence[Any]:
        """Under the lock: the next batch, or for an exporter that prefers fewer, larger calls, the queued
        batches joined up to its preferred size, after lingering for them to add up."""
        target = self.batch_target
        if not target or len(self._batches[0]) >= target:
            batch: Sequence[Any] = self._batches.popleft()
        else:
            # The linger counts from the oldest queued batch's arrival, not from when the worker got to it.
            give_up_at = self._oldest_arrival + self.linger
            self._lingering = True
            try:
                while self._queued_items < target and not (self._stopping or self._draining or self._flushes
                                                           or self._due):
                    remaining = give_up_at - time.monotonic()
                    if remaining <= 0:
                        break
                    self._cond.wait(remaining)
            finally:
                self._lingering = False
            batch = list(self._batches.popleft())
            while self._batches and len(batch) + len(self._batches[0]) <= target:
                batch.extend(self._batches.popleft())
        if self._batches:
            self._oldest_arrival = time.monotonic()  # what is left waits afresh, up to one more linger
        else:
            self._due = False
        return batch

    def _attempt(self, batch: Sequence[Any]) -> Any:
        try:
            return self.exporter.export(batch)
        except Exception as exc:
            return exc

    def _export(self, batch: Sequence[Any]) -> None:
        outcome = self._attempt(batch)
        if isinstance(outcome, Exception) and len(batch) > 1:
            self._isolate(batch)
        else:
            self._record(batch, outcome)
        if self._later_losses is not None:
            self.reconcile()

    def _isolate(self, batch: Sequence[Any]) -> None:
        """An exporter that raises (rather than reporting a failed export) has usually met one item it cannot
        encode: halve the batch until that item is alone, so it costs only itself. When both halves raise,
        the fault is not one item (a backend down, an exporter bug): splitting stops there, so a failing
        exporter costs at most two extra calls per level, never one call per item."""
        middle = len(batch) // 2
        halves = (batch[:middle], batch[middle:])
        outcomes = [self._attempt(half) for half in halves]
        raised = [isinstance(outcome, Exception) for outcome in outcomes]
        for half, outcome, failed in zip(halves, outcomes, raised, strict=True):
            if failed and not all(raised) and len(half) > 1:
                self._isolate(half)
            else:
                self._record(half, outcome)

    def _record(self, batch: Sequence[Any], result: Any) -> None:
        if _succeeded(result):
            with self._reconcile_lock:  # reconcile() may be moving counts on a reader's thread
                self.stats.exported += len(batch)
            self.stats.last_success = time.time()
            self._consecutive_failures, self._cooldown = 0, 0.0
            self.stats.circuit_open = False
            return
        self._consecutive_failures += 1
        if self._consecutive_failures >= BREAKER_FAILURES:
            # Open (or, after a failed trial, re-open for longer): 5 s doubling to 60 s.
            self._cooldown = min(BREAKER_MAX_COOLDOWN, self._cooldown * 2 or BREAKER_COOLDOWN)
            self._open_until = time.monotonic() + self._cooldown
            if not self.stats.circuit_open:
                self.stats.circuit_opened += 1
            self.stats.circuit_open = True
        reason = type(result).__name__ if isinstance(result, Exception) else "export_failed"
        with self._reconcile_lock:
            self.stats.failed += len(batch)
            self.stats.by_reason[reason] = self.stats.by_reason.get(reason, 0) + len(batch)
        self.stats.last_error = f"{reason} at {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}"

    def flush(self, deadline: Deadline) -> bool:
        """Wait until everything queued so far was exported, or the deadline passes. While the circuit is
        open nothing will be exported before the cool-down: a flush says so at once instead of waiting."""
        with self._cond:
            if not self._draining and time.monotonic() < self._open_until and self._queued_items:
                return False
            self._flushes += 1
            self._cond.notify_all()  # a worker lingering for a larger batch exports what it has
            try:
                while self._queued_items > 0:
                    remaining = deadline.remaining()
                    if remaining <= 0 or not self._worker.is_alive():
                        return False
                    self._cond.wait(remaining)
            finally:
                self._flushes -= 1
        flush = getattr(self.exporter, "force_flush", None)
        if flush is not None:
            return deadline.run_bounded(f"{self.name}-force-flush",
                                        lambda: flush(int(deadline.remaining() * 1000)))
        return True

    def account_undelivered(self) -> None:
        """Stop, and count what is still queued as not delivered, once. Called by shutdown after its last flush,
        and by the runtime for a destination whose shutdown is still waiting when the deadline has passed, so the
        end-of-process summary counts it whichever thread gets there first."""
        with self._cond:
            if self._accounted:
                return
            self._accounted = True
            self._shut_down = True
            self._stopping = True
            undelivered = self._queued_items
            in_flight = min(self._in_flight, undelivered)
            self._cond.notify_all()
        if undelivered:
            # Counted with the other losses, so delivered + lost = produced holds in health() and the summary
            # line. Items in an export that had not returned may still have reached the backend: they are
            # counted apart ("unconfirmed"), the rest were never sent.
            reasons = self.stats.by_reason
            self.stats.failed += undelivered
            if undelivered - in_flight:
                reasons["never_sent_shutdown_deadline"] = reasons.get("never_sent_shutdown_deadline", 0) + (
                    undelivered - in_flight)
            if in_flight:
                reasons["unconfirmed_in_flight_at_shutdown"] = reasons.get("unconfirmed_in_flight_at_shutdown", 0) + (
                    in_flight)
            logger.warning("destination %s: %d items undelivered at shutdown (deadline reached; %d of them were "
                           "being exported and may have arrived)", self.name, undelivered, in_flight)

    def shutdown(self, deadline: Deadline) -> bool:
        if self._shut_down:
            return True
        with self._cond:
            self._draining = True  # one last try for what is queued, within the deadline, circuit or not
            self._cond.notify_all()
        drained = self.flush(deadline)
        self.account_undelivered()
        finished = deadline.run_bounded(f"{self.name}-shutdown", self.exporter.shutdown)
        return drained and finished
