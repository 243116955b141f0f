"""The application-facing half of the pipeline.

``offer`` is what runs on the application thread: a length check and one deque append, whatever the
number of destinations. A dispatcher thread moves items from that queue to every destination in
batches; destinations export on their own threads."""

from __future__ import annotations

import os
import threading
import weakref
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

from tl_otel.pipeline.deadline import Deadline
from tl_otel.pipeline.destination import Destination
from tl_otel.self_log import RateLimitedLog

_rate_limited = RateLimitedLog()


class Fanout:
    def __init__(
        self,
        name: str,
        destinations: Sequence[Destination],
        capacity: int,
        batch_size: int,
        schedule_delay: float,
        prepare: Callable[[Any], None] | None = None,
    ) -> None:
        self.name = name
        # Runs once per item on the dispatcher thread before any destination sees it (redaction).
        self.prepare = prepare
        self.dropped_unprepared = 0
        self.destinations = list(destinations)
        self.capacity = capacity
        self.batch_size = batch_size
        # 0 means "export as soon as possible"; a floor keeps the dispatcher from spinning.
        self.schedule_delay = max(schedule_delay, 0.005)
        self.dropped = 0
        self.dropped_after_shutdown = 0
        self.accepted = 0
        self._shut_down = False
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
        if len(items) >= self.batch_size:
            self._wake.set()

    def _count_drop(self) -> None:
        with self._drop_lock:
            self.dropped += 1
        _rate_limited.warning(
            f"fanout-full-{self.name}",
            "%s queue full (capacity %d): dropping; %d dropped so far",
            self.name, self.capacity, self.dropped,
        )

    # -- dispatcher ------------------------------------------------------------------------------
    def _run(self) -> None:
        while not self._stop:
            self._wake.wait(self.schedule_delay)
            self._wake.clear()
            self._dispatch()

    def _dispatch(self) -> None:
        with self._dispatch_lock:
            items = self._items
            while items:
                popleft = items.popleft
                batch = [popleft() for _ in range(min(len(items), self.batch_size))]
                self.accepted += len(batch)
                if self.prepare is not None:
                    batch = self._prepared(batch)
                for destination in self.destinations:
                    destination.offer(batch)

    def _prepared(self, batch: list[Any]) -> list[Any]:
        prepare = self.prepare
        kept = []
        for item in batch:
            try:
                prepare(item)
            except Exception as exc:
                # An item that could not be redacted is not sent unredacted: it alone is lost, and counted.
                self.dropped_unprepared += 1
                _rate_limited.warning(f"prepare-failed-{self.name}",
                                      "%s: an item could not be redacted (%s) and was dropped; %d so far",
                                      self.name, type(exc).__name__, self.dropped_unprepared)
                continue
            kept.append(item)
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
