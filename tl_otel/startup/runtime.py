"""What configure() built (one per process: :func:`current`), and the one-deadline flush and shutdown across all
of it."""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from typing import Any

from tl_otel.diagnostics.self_log import logger
from tl_otel.pipeline.deadline import Deadline
from tl_otel.pipeline.fanout import Fanout


@dataclass
class Runtime:
    settings: Any
    tracer_provider: Any
    logger_provider: Any | None
    meter_provider: Any | None
    span_fanout: Fanout | None
    log_fanout: Fanout | None
    log_handler: Any | None
    alert_engine: Any | None = None
    exporters: dict[str, list[str]] = field(default_factory=dict)
    exporter_objects: dict[str, dict[str, Any]] = field(default_factory=dict)
    _shut_down: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        os.register_at_fork(after_in_child=self._after_fork_in_child)

    def _after_fork_in_child(self) -> None:
        # The resource's process.pid is rewritten by tl_otel.startup.resource.refresh_process_pid.
        self._lock = threading.Lock()

    def _calls(self, deadline: Deadline, flush: bool) -> dict[str, Any]:
        calls: dict[str, Any] = {}
        for name, fanout in (("spans", self.span_fanout), ("logs", self.log_fanout)):
            if fanout is not None:
                calls[name] = (lambda f=fanout: f.force_flush(deadline)) if flush else (
                    lambda f=fanout: f.shutdown(deadline))
        if self.alert_engine is not None and not flush:
            engine = self.alert_engine
            calls["alerts"] = lambda: engine.stop(deadline.remaining())
        if self.meter_provider is not None:
            meter_provider = self.meter_provider
            if flush:
                calls["metrics"] = lambda: meter_provider.force_flush(int(deadline.remaining() * 1000))
            else:
                calls["metrics"] = lambda: meter_provider.shutdown(int(deadline.remaining() * 1000))
        return calls

    def force_flush(self, timeout: float | None = None) -> bool:
        deadline = Deadline(self.settings.shutdown_timeout if timeout is None else timeout)
        results = deadline.run_concurrently(self._calls(deadline, flush=True))
        return all(results.values())

    def shutdown(self, timeout: float | None = None) -> bool:
        with self._lock:
            if self._shut_down:
                return True
            self._shut_down = True
        deadline = Deadline(self.settings.shutdown_timeout if timeout is None else timeout)
        results = deadline.run_concurrently(self._calls(deadline, flush=False))
        # Processors added by others to our providers get what is left of the same budget.
        deadline.run_concurrently({
            f"provider-{index}": provider.shutdown
            for index, provider in enumerate((self.tracer_provider, self.logger_provider))
            if provider is not None
        })
        if not all(results.values()):
            late = ", ".join(name for name, done in results.items() if not done)
            logger.warning("shutdown deadline reached before %s finished; what they still held is lost", late)
            # Their destinations' own shutdowns may still be waiting: count what they hold now, so the line below
            # has the numbers (once: whichever of the two threads comes first counts).
            for fanout in (self.span_fanout, self.log_fanout):
                for destination in fanout.destinations if fanout is not None else ():
                    destination.account_undelivered()
        from tl_otel.diagnostics.health_report import report, summary_line

        lost = summary_line(report(self))
        if lost:
            logger.warning("telemetry not delivered during this process's life: %s", lost)
        return all(results.values())


_current: Runtime | None = None


def current() -> Runtime | None:
    """The runtime configure() built in this process, or None before it."""
    return _current


def set_current(runtime: Runtime) -> None:
    global _current
    _current = runtime
