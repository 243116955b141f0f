"""A deadline shared by every step of a flush or shutdown, so the total never exceeds one budget."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from opentelemetry.context import _SUPPRESS_INSTRUMENTATION_KEY, attach, detach, set_value


class Deadline:
    def __init__(self, seconds: float) -> None:
        self._end = time.monotonic() + max(0.0, seconds)

    def remaining(self) -> float:
        return max(0.0, self._end - time.monotonic())

    @property
    def expired(self) -> bool:
        return self.remaining() <= 0.0

    def run_bounded(self, name: str, func: Callable[[], object]) -> bool:
        """Run ``func`` on a daemon thread and wait for it until the deadline.

        Used for third-party shutdown/flush calls that accept no timeout or ignore the one they get:
        a hung exporter must not hold the process past the budget. Returns whether it finished (and did
        not return False)."""
        if self.expired:
            return False
        return self.run_concurrently({name: func})[name]

    def run_concurrently(self, calls: dict[str, Callable[[], object]]) -> dict[str, bool]:
        """Run every call on its own daemon thread, all against this deadline, so one hung call
        cannot use up the budget of the others. Returns name -> finished (and returned truthy)."""
        results: dict[str, bool] = {}

        def wrap(name: str, func: Callable[[], object]) -> Callable[[], object]:
            def call() -> None:
                results[name] = func() is not False

            return call

        threads = []
        for name, func in calls.items():
            done = threading.Event()
            call = wrap(name, func)

            def target(call: Callable[[], object] = call, done: threading.Event = done, name: str = name) -> None:
                token = attach(set_value(_SUPPRESS_INSTRUMENTATION_KEY, True))
                try:
                    call()
                except Exception:
                    from tl_otel.diagnostics.self_log import logger

                    logger.warning("%s failed during flush/shutdown", name, exc_info=True)
                finally:
                    detach(token)
                    done.set()

            try:
                threading.Thread(target=target, name=f"tl-otel-{name}", daemon=True).start()
            except RuntimeError:
                # Python 3.12+ refuses new threads once the interpreter is finalizing, which is when atexit
                # runs tl-otel's shutdown: run the call here (each step keeps its own timeout).
                target()
            threads.append((name, done))
        for name, done in threads:
            if not done.wait(self.remaining()):
                results[name] = False
        return {name: results.get(name, False) for name in calls}
