"""The alert lifecycle, on a timer thread: pending (held for TL_OTEL_ALERT_FOR_S) → firing (one
notification) → repeated every TL_OTEL_ALERT_REPEAT_S while it lasts → resolved (one notice). One alert
per (rule, group), so an incident is one notification, not one per span.

Inhibition: while ``remote_down`` fires, ``error_rate`` notifications are held (the failures are the remote
service's) and the remote-down notice reports the error rate instead.

Every transition is also a log record (logger ``tl_otel.alerts``) through the log pipeline, so it is a
JSON line; it is emitted straight to the LoggerProvider, not through stdlib logging."""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import asdict, dataclass, field
from typing import Any

from opentelemetry._logs import SeverityNumber
from opentelemetry.context import _SUPPRESS_INSTRUMENTATION_KEY, attach, detach, set_value

from tl_otel.alerting.channels import Channel, Notification
from tl_otel.alerting.processor import AlertingSpanProcessor
from tl_otel.alerting.rules import Condition, evaluate
from tl_otel.self_log import logger


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


class AlertEngine:
    def __init__(self, processor: AlertingSpanProcessor, settings: Any, service: str, channels: list[Channel],
                 logger_provider: Any | None = None, store: Any | None = None) -> None:
        self.processor = processor
        self.store = store
        self.settings = settings
        self.service = service
        self.channels = channels
        self._otel_logger = logger_provider.get_logger("tl_otel.alerts") if logger_provider is not None else None
        self.alerts: dict[tuple[str, str], Alert] = {}
        self.history: deque[dict[str, Any]] = deque(maxlen=1000)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="tl-otel-alerts", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 2.0) -> None:
        self._stop.set()
        for channel in self.channels:
            channel.wait_idle(timeout)

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
        totals = None
        if self.store is not None:
            closed = self.processor.drain_closed(now)
            if closed and not self.store.add_counts(closed):
                self.processor.restore(closed)
            totals = self.store.window(now, self.settings.alert_window_s)
        if totals is None:
            totals = self.processor.window(now, self.settings.alert_window_s)
        # remote_down last, so its notice can report the error-rate alert it holds back.
        found = sorted(evaluate(totals, self.settings, self.service), key=lambda c: c.rule == "remote_down")
        conditions = {(c.rule, c.key): c for c in found}
        outbox: list[tuple[Alert, str]] = []

        def shared_step(stored: dict[tuple[str, str], dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
            outbox.clear()
            alerts = {key: Alert(**data) for key, data in stored.items()}
            self._step(alerts, conditions, now, outbox)
            self.alerts = alerts
            return {key: asdict(alert) for key, alert in alerts.items()}

        with self._lock:
            if self.store is None or not self.store.transact(shared_step):
                outbox.clear()
                self._step(self.alerts, conditions, now, outbox)
            for alert, state in outbox:
                self._notify(alert, state)

    def _step(self, alerts: dict[tuple[str, str], Alert], conditions: dict[tuple[str, str], Condition], now: float,
              outbox: list[tuple[Alert, str]]) -> None:
        """One lifecycle step over ``alerts`` (changed in place); notifications to send go to ``outbox``."""
        # Inhibition: error-rate notices are held while a remote service is down (its failures explain them).
        remote_down = any(rule == "remote_down" for rule, _ in conditions)
        for key, condition in conditions.items():
            alert = alerts.get(key)
            if alert is None or alert.state == "resolved":
                alert = alerts[key] = Alert(condition.rule, condition.key, "pending", now, condition.summary,
                                            condition.value, condition.threshold, condition.details)
                self._record(alert, "pending")
            alert.summary, alert.value, alert.details = condition.summary, condition.value, condition.details
            examples = self.processor.example_traces
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
            if key in conditions or alert.state == "resolved":
                if alert.state == "resolved" and key not in conditions:
                    del alerts[key]
                continue
            if alert.state == "pending":
                del alerts[key]  # cleared before it fired: nobody is told
                self._record(alert, "cleared")
                continue
            alert.state = "resolved"
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
