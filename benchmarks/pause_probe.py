"""What explains a latency tail, seen from inside the server of ``./run bench latency``: every full (generation 2)
garbage collection and how long it held the interpreter (a ``gc.callbacks`` timer), and a thread that sleeps
1 ms at a time and records how late it wakes (its longest lateness is the longest time anything, a collection,
a thread holding the GIL, kept the application's threads from running). Both are read and reset per measured
window with ``take()``, outside the hot path."""

from __future__ import annotations

import gc
import sys
import threading
import time
from typing import Any

SLEEP_S = 0.001


class GcPauses:
    """Generation-2 collections and their pauses (ms) since the last ``take()``, and how many younger ones ran."""

    def __init__(self, clock: Any = time.perf_counter) -> None:
        self._clock = clock
        self._started: float | None = None
        self.full_pauses_ms: list[float] = []
        self.young_collections = 0

    def install(self) -> None:
        gc.callbacks.append(self.on_gc)

    def on_gc(self, phase: str, info: dict[str, Any]) -> None:
        if info["generation"] != 2:
            if phase == "stop":
                self.young_collections += 1
            return
        if phase == "start":
            self._started = self._clock()
        elif self._started is not None:
            self.full_pauses_ms.append((self._clock() - self._started) * 1000)
            self._started = None

    def take(self) -> dict[str, Any]:
        # Swapped, not cleared: a collection ending on another thread appends to the list already handed out.
        pauses, self.full_pauses_ms = self.full_pauses_ms, []
        young, self.young_collections = self.young_collections, 0
        return {"full_pauses_ms": pauses, "young_collections": young}


class SleepLateness:
    """A daemon thread that sleeps ``SLEEP_S`` in a loop; ``longest_ms`` is its worst oversleep since ``take()``."""

    def __init__(self, sleep_s: float = SLEEP_S) -> None:
        self._sleep_s = sleep_s
        self._stopping = threading.Event()
        self.longest_ms = 0.0
        self.wakeups = 0

    def start(self) -> threading.Thread:
        thread = threading.Thread(target=self._run, name="bench-sleep-probe", daemon=True)
        thread.start()
        return thread

    def observe(self, slept_s: float) -> None:
        self.wakeups += 1
        self.longest_ms = max(self.longest_ms, (slept_s - self._sleep_s) * 1000)

    def _run(self) -> None:
        clock, sleep = time.perf_counter, time.sleep
        while not self._stopping.is_set():
            started = clock()
            sleep(self._sleep_s)
            self.observe(clock() - started)

    def stop(self) -> None:
        """Ends the thread after its current sleep (the benchmark's server never does: it dies with it)."""
        self._stopping.set()

    def take(self) -> dict[str, Any]:
        longest, self.longest_ms = self.longest_ms, 0.0
        wakeups, self.wakeups = self.wakeups, 0
        return {"longest_lateness_ms": longest, "probe_wakeups": wakeups}


class PauseProbe:
    """Both probes, installed together; ``take()`` is one window's reading."""

    def __init__(self) -> None:
        self.collections = GcPauses()
        self.lateness = SleepLateness()

    def start(self) -> None:
        self.collections.install()
        self.lateness.start()

    def take(self) -> dict[str, Any]:
        return {**self.collections.take(), **self.lateness.take()}


def heap_size() -> dict[str, int]:
    """What a full collection walks, and what the process imported (read at the end: ``get_objects`` is slow)."""
    return {"tracked_objects": len(gc.get_objects()), "modules": len(sys.modules)}
