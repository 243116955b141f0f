"""The application-facing half of the pipeline.

``offer`` is what runs on the application thread: a length check and one deque append, whatever the
number of destinations. A dispatcher thread moves items from that queue to every destination in
batches; destinations export on their own threads.

On the dispatcher, each item is prepared once (redaction) and, for the span pipeline, turned once into the
compact record tl-otel's own exporters read (``tl_otel.pipeline.span_record``); destinations whose exporter
reads records get those, any other exporter gets the SDK's objects. Unless such an other exporter's destination
queues it, nothing of tl-otel's holds an SDK object once the dispatcher has passed."""

from __future__ import annotations

import contextlib
import os
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

from tl_otel.pipeline.deadline import Deadline
from tl_otel.pipeline.destination import Destination
from tl_otel.pipeline.loss import LossMonitor

# The dispatcher is woken when this many items wait (or the batch size, if smaller), not only every
# schedule delay: under load, SDK spans and log records (about ten tracked objects each) are then released, or
# made into compact records (one), within a few dozen requests, rather than after up to a second in which the
# collector promotes them to its oldest generation, where they bring on full collections. Destinations still
# join what they receive into larger batches where that pays (Destination: preferred_batch_items, batch_linger).
# 16 woke the dispatcher four times as often in a burst for no measurable difference in full collections.
RELEASE_AT = 64


class Fanout:
    def __init__(
        self,
        name: str,
        destinations: Sequence[Destination],
        capacity: int,
        batch_size: int,
        schedule_delay: float,
        prepare: Callable[[Any], None] | None = None,
        record: Callable[[Any], Any] | None = None,
    ) -> None:
        self.name = name
        # Runs once per item on the dispatcher thread before any destination sees it (redaction).
        self.prepare = prepare
        self.dropped_unprepared = 0
        self.dropped_unreadable = 0
        self.destinations = list(destinations)
        # Makes the compact record that destinations with ``takes_records`` receive instead of the item
        # (only when one of them does).
        self.record = record if any(d.takes_records for d in self.destinations) else None
        self.capacity = capacity
        self.batch_size = batch_size
        self.wake_at = min(batch_size, RELEASE_AT)
        # 0 means "export as soon as possible"; a floor keeps the dispatcher from spinning.
        self.schedule_delay = max(schedule_delay, 0.005)
        self.dropped = 0
        self.dropped_after_shutdown = 0
        self.accepted = 0
        self._shut_down = False
        self._next_loss_poll = 0.0
        self.loss_monitors = [LossMonitor(f"{name} queue (capacity {capacity})", self._loss_counters)]
        self.loss_monitors += [LossMonitor(f"destination {d.name}", d.loss_counters) for d in self.destinations]
        self._init_state()
        weak = weakref.WeakMethod(self._init_state)
        os.register_at_fork(after_in_child=lambda: (method := weak()) and method())

    def _init_state(self) -> None:
        # Also the after-fork reset: the parent's items, locks and thread stay with the parent.
        self._items: deque[Any] = deque()
        self._wake = threading.Event()
        self._dispatch_lock = threading.Lock()
        self._drop_lock = threading.Lock()
        self._stop = False
        self._thread = threading.Thread(target=self._run, name=f"tl-otel-dispatch-{self.name}", daemon=True)
        self._thread.start()

    @property
    def queue_depth(self) -> int:
        """Items the application appended that the dispatcher has not taken yet."""
        return len(self._items)

    # -- application thread --------------------------------------------------------------------
    def offer(self, item: Any) -> None:
        items = self._items
        if len(items) >= self.capacity:
            self._count_drop()
            return
        if self._shut_down:
            # Spans ending during interpreter teardown, after the final flush: counted, not warned about.
            self.dropped_after_shutdown += 1
            return
        items.append(item)
        if len(items) >= self.wake_at:
            self._wake.set()

    def _count_drop(self) -> None:
        # Counted only: the dispatcher's LossMonitor says when loss starts and stops, off this thread.
        with self._drop_lock:
            self.dropped += 1

    # -- dispatcher ------------------------------------------------------------------------------
    def _run(self) -> None:
        while not self._stop:
            woken = self._wake.wait(self.schedule_delay)
            self._wake.clear()
            # Woken by the timer, what is handed over has waited the whole schedule delay: it is due, and a
            # destination that joins batches exports it without lingering again.
            self._dispatch(due=not woken)
            self._poll_losses()

    def _loss_counters(self) -> dict[str, int]:
        return {"queue full": self.dropped, "could not be redacted": self.dropped_unprepared,
                "could not be read into a record": self.dropped_unreadable}

    def _poll_losses(self) -> None:
        now = time.monotonic()
        if now < self._next_loss_poll:
            return
        self._next_loss_poll = now + 0.5
        for monitor in self.loss_monitors:
            with contextlib.suppress(Exception):  # a diagnostic must never stop the dispatcher
                monitor.poll(now)

    def _dispatch(self, due: bool = False) -> None:
        with self._dispatch_lock:
            items = self._items
            while items:
                popleft = items.popleft
                batch = [popleft() for _ in range(min(len(items), self.batch_size))]
                self.accepted += len(batch)
                if self.prepare is not None:
                    batch = self._prepared(batch)
                records = self._records(batch) if self.record is not None else batch
                for destination in self.destinations:
                    destination.offer(records if destination.takes_records else batch, due)

    def _prepared(self, batch: list[Any]) -> list[Any]:
        prepare = self.prepare
        kept = []
        for item in batch:
            try:
                prepare(item)
            except Exception:
                # An item that could not be redacted is not sent unredacted: it alone is lost, and counted.
                self.dropped_unprepared += 1
                continue
            kept.append(item)
        return kept

    def _records(self, batch: list[Any]) -> list[Any]:
        record = self.record
        try:
            return [record(item) for item in batch]  # type: ignore[misc]
        except Exception:
            pass
        # One item the reader cannot take (a span class of its own, say) costs only itself.
        kept = []
        for item in batch:
            try:
                kept.append(record(item))  # type: ignore[misc]
            except Exception:
                self.dropped_unreadable += 1
        return kept

    # -- lifecycle -------------------------------------------------------------------------------
    def force_flush(self, deadline: Deadline) -> bool:
        self._dispatch()
        results = deadline.run_concurrently(
            {d.name: (lambda d=d: d.flush(deadline)) for d in self.destinations}
        )
        return all(results.values())

    def shutdown(self, deadline: Deadline) -> bool:
        if self._shut_down:
            return True
        self._dispatch()
        self._shut_down = True
        self._stop = True
        self._wake.set()
        self._dispatch()  # anything appended while we were switching over
        results = deadline.run_concurrently(
            {d.name: (lambda d=d: d.shutdown(deadline)) for d in self.destinations}
        )
        return all(results.values())
