"""The alert lifecycle, on a timer thread: pending (held for TL_OTEL_ALERT_FOR_S) → firing (one
notification) → repeated every TL_OTEL_ALERT_REPEAT_S while it lasts → resolved (one notice). One alert
per (rule, group), so an incident is one notification, not one per span.

An alert resolves on evidence only (see ``rules``): a rate back under its threshold over at least the
minimum number of requests for TL_OTEL_ALERT_FOR_S, or a whole window with nothing (traffic stopped, no
calls to a peer, no 429s) while the totals are the whole service's. Missing data (too few requests, or a
store that cannot be read) keeps the state as it is. The RESOLVED notice states the value that resolved it.

Shared store outages: each process keeps the last shared state and steps it alone on its own counts (at
most one notice per process per incident); when the store is back, the alerts a process knows are firing
join the shared state (a restarted Redis may have lost it), so the shared step does not fire them again.

After a fork, the child gets its own evaluation thread, lock and (empty) state; with a shared store the
state comes back from the store at its first step. A process that ends hands its last counts to the store
(``stop``), so a Celery child leaving after max-tasks-per-child loses nothing it counted.

Inhibition: while ``remote_down`` fires, ``error_rate`` notifications are held (the failures are the remote
service's) and the remote-down notice reports the error rate instead.

Every transition is also a log record (logger ``tl_otel.alerts``) through the log pipeline, so it is a
JSON line; it is emitted straight to the LoggerProvider, not through stdlib logging."""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
import weakref
from collections import deque
from dataclasses import asdict, dataclass, field
from typing import Any

from opentelemetry._logs import SeverityNumber
from opentelemetry.context import _SUPPRESS_INSTRUMENTATION_KEY, attach, detach, set_value

from tl_otel.alerting.channels import Channel, Notification
from tl_otel.alerting.processor import AlertingSpanProcessor
from tl_otel.alerting.rules import Condition, evaluate, no_calls
from tl_otel.diagnostics.self_log import logger


@dataclass
class Alert:
    rule: str
    key: str
    state: str  # pending | firing | resolved
    since: float
    summary: str
    value: float
    threshold: float
    details: list[str] = field(default_factory=list)
    trace_hint: str | None = None
    last_notified: float | None = None
    held: bool = False  # inhibited: firing, but its notifications are held
    clear_since: float | None = None  # firing, with evidence that it is over since then


class AlertEngine:
    def __init__(self, processor: AlertingSpanProcessor, settings: Any, service: str, channels: list[Channel],
                 logger_provider: Any | None = None, store: Any | None = None) -> None:
        self.processor = processor
        self.store = store
        self.settings = settings
        self.service = service
        self.channels = channels
        self._otel_logger = logger_provider.get_logger("tl_otel.alerts") if logger_provider is not None else None
        self._started = False
        self._warned_overflow = False
        self._init_state()
        weak = weakref.WeakMethod(self._after_fork_in_child)
        os.register_at_fork(after_in_child=lambda: (method := weak()) and method())

    def _init_state(self) -> None:
        self.alerts: dict[tuple[str, str], Alert] = {}
        self.history: deque[dict[str, Any]] = deque(maxlen=1000)
        # this process stepped its alerts alone (the shared store failed): they rejoin the store's next time
        self._alone = False
        self._lock = threading.Lock()
        self._store_lock = threading.Lock()  # one store operation at a time (its connection is not shared)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _after_fork_in_child(self) -> None:
        # The parent's thread did not survive the fork, and its locks may have been held at that moment.
        stopped = self._stop.is_set()
        self._init_state()
        if self._started and not stopped:
            self._start_thread()
            self._flush_at_multiprocessing_exit()

    def _flush_at_multiprocessing_exit(self) -> None:
        """A ``multiprocessing`` child ends with ``os._exit`` (no atexit): hand the last counts over from its
        exit function. It clears its finalizers after the fork and then runs its after-fork hooks, so the
        finalizer is registered from one of those."""
        util = sys.modules.get("multiprocessing.util")
        if util is None or self.store is None:
            return
        with contextlib.suppress(Exception):
            util.register_after_fork(self, lambda engine: util.Finalize(engine, engine.flush_counts, exitpriority=0))

    def start(self) -> None:
        self._started = True
        self._start_thread()

    def _start_thread(self) -> None:
        self._thread = threading.Thread(target=self._run, name="tl-otel-alerts", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 2.0) -> None:
        self._stop.set()
        self.flush_counts()
        for channel in self.channels:
            channel.wait_idle(timeout)

    def flush_counts(self) -> None:
        """Hand every count still held here (the current second's too) to the shared store."""
        if self.store is None:
            return
        try:
            with self._store_lock:
                buckets = self.processor.drain_closed(None)
                if buckets and not self.store.add_counts(buckets):
                    self.processor.restore(buckets, 0)
        except Exception:
            logger.warning("alert counts could not be handed to the shared store at exit", exc_info=True)

    def _run(self) -> None:
        token = attach(set_value(_SUPPRESS_INSTRUMENTATION_KEY, True))
        try:
            while not self._stop.wait(self.settings.alert_eval_interval_s):
                try:
                    self.evaluate_once()
                except Exception:
                    logger.warning("alert evaluation failed", exc_info=True)
        finally:
            detach(token)

    # -- lifecycle ---------------------------------------------------------------------------------
    def evaluate_once(self, now: float | None = None) -> None:
        now = time.time() if now is None else now
        window_s = self.settings.alert_window_s
        if self.processor.overflowed and not self._warned_overflow:
            self._warned_overflow = True
            logger.warning("more than %d distinct routes, tasks and peers in the alert window "
                           "(TL_OTEL_ALERT_MAX_KEYS): the others are counted together as one key per kind",
                           self.processor.max_keys)
        with self._store_lock:
            self._evaluate(now, window_s)

    def _evaluate(self, now: float, window_s: float) -> None:
        totals = None
        if self.store is not None:
            closed = self.processor.drain_closed(now)
            if closed and not self.store.add_counts(closed):
                self.processor.restore(closed, now - window_s)
            totals = self.store.window(now, window_s)
        # The whole service's counts: from the store, or this process's own when it is alone by design.
        complete = totals is not None or self.store is None
        if totals is None:
            totals = self.processor.window(now, window_s)
        # remote_down last, so its notice can report the error-rate alert it holds back.
        found = sorted(evaluate(totals, self.settings, self.service, complete), key=lambda c: c.rule == "remote_down")
        conditions = {(c.rule, c.key): c for c in found}
        outbox: list[tuple[Alert, str]] = []

        def shared_step(stored: dict[tuple[str, str], dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
            outbox.clear()
            alerts = {key: Alert(**data) for key, data in stored.items()}
            if self._alone:  # back from an outage (a restarted Redis may have lost everything): what this
                for key, mine in self.alerts.items():  # process knows is firing was notified already
                    if mine.state == "firing" and (key not in alerts or alerts[key].state != "firing"):
                        alerts[key] = Alert(**asdict(mine))
            self._step(alerts, conditions, now, outbox, complete)
            self.alerts = alerts
            return {key: asdict(alert) for key, alert in alerts.items()}

        with self._lock:
            if self.store is not None and self.store.transact(shared_step):
                self._alone = False
            else:
                outbox.clear()
                self._step(self.alerts, conditions, now, outbox, complete)
                self._alone = self.store is not None
            for alert, state in outbox:
                self._notify(alert, state)

    def _step(self, alerts: dict[tuple[str, str], Alert], conditions: dict[tuple[str, str], Condition], now: float,
              outbox: list[tuple[Alert, str]], complete: bool = True) -> None:
        """One lifecycle step over ``alerts`` (changed in place); notifications to send go to ``outbox``."""
        # Inhibition: error-rate notices are held while a remote service is down (its failures explain them).
        remote_down = any(rule == "remote_down" and c.holds for (rule, _), c in conditions.items())
        examples = self.processor.examples()
        for key, condition in conditions.items():
            if not condition.holds:
                continue
            alert = alerts.get(key)
            if alert is None or alert.state == "resolved":
                alert = alerts[key] = Alert(condition.rule, condition.key, "pending", now, condition.summary,
                                            condition.value, condition.threshold, condition.details)
                self._record(alert, "pending")
            alert.summary, alert.value, alert.details = condition.summary, condition.value, condition.details
            alert.clear_since = None
            hint = next((examples[k] for k in condition.keys if k in examples), None)
            alert.trace_hint = hint or alert.trace_hint
            inhibited = remote_down and alert.rule == "error_rate"
            if alert.state == "pending" and now - alert.since >= self.settings.alert_for_s:
                alert.state, alert.since = "firing", now
                self._transition(alert, "firing", now, inhibited, outbox)
            elif alert.state == "firing" and alert.last_notified is not None and \
                    now - alert.last_notified >= self.settings.alert_repeat_s:
                self._transition(alert, "firing", now, inhibited, outbox, repeat=True)
        for key, alert in list(alerts.items()):
            condition = conditions.get(key)
            if condition is not None and condition.holds:
                continue
            if alert.state == "resolved":
                del alerts[key]
                continue
            if condition is None and complete and alert.rule == "remote_down":
                condition = no_calls(alert.key, self.settings.alert_window_s, self.service)
            if condition is None:
                continue  # no evidence either way (too few requests, or only this process's share): it stays
            if alert.state == "pending":
                del alerts[key]  # cleared before it fired: nobody is told
                self._record(alert, "cleared")
                continue
            alert.clear_since = alert.clear_since if alert.clear_since is not None else now
            if not condition.at_once and now - alert.clear_since < self.settings.alert_for_s:
                continue
            alert.state, alert.summary, alert.value = "resolved", condition.summary, condition.value
            alert.details = []
            self._transition(alert, "resolved", now, alert.held, outbox)

    def _transition(self, alert: Alert, state: str, now: float, inhibited: bool, outbox: list[tuple[Alert, str]],
                    repeat: bool = False) -> None:
        self._record(alert, state + (" (repeat)" if repeat else "") + (" (held: remote service down)"
                                                                      if inhibited else ""))
        if state == "firing":
            alert.held = inhibited
        if inhibited:
            return
        alert.last_notified = now
        outbox.append((Alert(**asdict(alert)), state))

    def _notify(self, alert: Alert, state: str) -> None:
        notification = self._notification(alert, state)
        for channel in self.channels:
            channel.send(notification)

    def _notification(self, alert: Alert, state: str) -> Notification:
        label = "RESOLVED" if state == "resolved" else "FIRING"
        lines = [alert.summary, f"rule: {alert.rule} · group: {alert.key} · service: {self.service}",
                 f"since: {time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime(alert.since))}"]
        if alert.details:
            lines.append("worst: " + "; ".join(alert.details))
        if alert.trace_hint:
            lines.append(f"a trace to look at: {alert.trace_hint}")
        if alert.rule == "remote_down":
            held = [a for a in self.alerts.values() if a.rule == "error_rate" and a.state in ("pending", "firing")]
            if held:
                lines.append("meanwhile: " + "; ".join(a.summary for a in held))
        return Notification(f"[{label}] {alert.summary}", "\n".join(lines))

    def _record(self, alert: Alert, event: str) -> None:
        entry = {"rule": alert.rule, "group": alert.key, "state": event, "summary": alert.summary,
                 "value": alert.value, "threshold": alert.threshold, "service": self.service, "at": time.time()}
        self.history.append(entry)
        if self._otel_logger is not None:
            try:
                level = SeverityNumber.WARN if event.startswith("firing") else SeverityNumber.INFO
                self._otel_logger.emit(body=f"alert {event}: {alert.summary}", severity_number=level,
                                       severity_text="WARNING" if level is SeverityNumber.WARN else "INFO",
                                       attributes={f"alert.{k}": v for k, v in entry.items() if k != "at"})
            except Exception:
                pass

    # -- queries -----------------------------------------------------------------------------------
    def active(self) -> list[dict[str, Any]]:
        with self._lock:
            return [{"rule": a.rule, "group": a.key, "state": a.state, "since": a.since, "summary": a.summary,
                     "value": a.value, "threshold": a.threshold, "held": a.held}
                    for a in self.alerts.values() if a.state in ("pending", "firing")]
