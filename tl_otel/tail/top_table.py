"""``--top``: one row per route and task over a sliding window of the stream's own time, with the figures the
alert rules use (error rate against TL_OTEL_ALERT_ERROR_RATE, p95 against TL_OTEL_ALERT_LATENCY_MS), so a
person sees an alert coming. Worst first: the row whose error rate or p95 is furthest over its threshold."""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

from tl_otel.tail.filters import Filters, route_names
from tl_otel.tail.records import Record
from tl_otel.tail.styled import Line

MAX_ROWS = 1000
MAX_SAMPLES_PER_ROW = 100_000


def percentile(sorted_values: list[float], share: float) -> float:
    """Nearest rank: the smallest value with at least ``share`` of the values at or below it."""
    if not sorted_values:
        return 0.0
    return sorted_values[max(0, math.ceil(share * len(sorted_values)) - 1)]


def failed(record: Record) -> bool:
    """As the alert rules count: a 5xx or an error status; a Celery retry is not a failure."""
    if record.get("celery.state") == "RETRY":
        return False
    code = record.get("http.status_code", record.get("http.response.status_code"))
    return record.get("status") == "error" or (type(code) is int and code >= 500) or record.get(
        "celery.state") == "FAILURE"


@dataclass
class Row:
    service: str
    name: str
    count: int
    rate: float
    errors: int
    p50: float
    p95: float
    p99: float
    slowest: str
    score: float


class TopTable:
    def __init__(self, window_s: float, error_rate: float, latency_ms: float, filters: Filters | None = None) -> None:
        self.window_ns = int(window_s * 1e9)
        self.error_rate = error_rate
        self.latency_ms = latency_ms
        self.filters = filters or Filters()
        # (service, name) -> samples (end ns, duration ms, failed, trace id), in arrival order
        self.samples: dict[tuple[str, str], deque[tuple[int, float, bool, str]]] = {}
        self.names: dict[tuple[str, str], tuple[str, ...]] = {}
        self.clock_ns = 0
        self.overflowed = 0

    def add(self, record: Record) -> None:
        if record.get("type") != "span" or record.get("span.kind") not in ("server", "consumer"):
            return
        key = (str(record.get("service.name")), str(record.get("message")))
        samples = self.samples.get(key)
        if samples is None:
            if len(self.samples) >= MAX_ROWS:
                self.overflowed += 1
                return
            samples = self.samples[key] = deque(maxlen=MAX_SAMPLES_PER_ROW)
            self.names[key] = route_names(record)
        end = record["_end"]
        self.clock_ns = max(self.clock_ns, end)
        samples.append((end, float(record.get("duration_ms") or 0.0), failed(record), str(record.get("trace_id"))))

    def rows(self) -> list[Row]:
        horizon = self.clock_ns - self.window_ns
        kept = {}
        for key, samples in self.samples.items():
            window = [sample for sample in samples if sample[0] > horizon]
            if window and self.filters.accepts_row(key[0], self.names[key]):
                kept[key] = window
        if not kept:
            return []
        oldest = min(sample[0] for window in kept.values() for sample in window)
        # requests per second over the part of the window the stream covers (at least one second)
        covered_s = max(1.0, min(self.window_ns, self.clock_ns - oldest) / 1e9)
        rows = []
        for (service, name), window in kept.items():
            durations = sorted(sample[1] for sample in window)
            errors = sum(1 for sample in window if sample[2])
            slowest = max(window, key=lambda sample: sample[1])[3]
            p95 = percentile(durations, 0.95)
            score = max(errors / len(window) / self.error_rate if self.error_rate else 0.0, p95 / self.latency_ms)
            rows.append(Row(service, name, len(window), len(window) / covered_s, errors, percentile(durations, 0.5),
                            p95, percentile(durations, 0.99), slowest, score))
        rows.sort(key=lambda row: (-row.score, -row.count, row.service, row.name))
        return rows

    def render(self) -> list[Line]:
        rows = self.rows()
        header = (f"{'route / task':<34} {'service':<18} {'req/s':>7} {'count':>6} {'errors':>10} {'p50':>9} "
                  f"{'p95':>9} {'p99':>9}  slowest trace")
        lines: list[Line] = [[(header, "bold")]]
        for row in rows:
            error_share = row.errors / row.count
            bad_errors = error_share > self.error_rate
            bad_latency = row.p95 > self.latency_ms
            errors = f"{row.errors} {error_share:.0%}{'!' if bad_errors else ' '}"
            lines.append([
                (f"{row.name[:34]:<34} ", "bold" if row.score >= 1 else ""),
                (f"{row.service[:18]:<18} ", "magenta"),
                (f"{row.rate:>7.2f} {row.count:>6} ", ""),
                (f"{errors:>10} ", "bold red" if bad_errors else ("yellow" if row.errors else "")),
                (f"{row.p50:>9.1f} ", ""),
                (f"{row.p95:>8.1f}{'!' if bad_latency else ' '}", "bold red" if bad_latency else ""),
                (f"{row.p99:>9.1f}  ", ""),
                (row.slowest, "dim"),
            ])
        footer = (f"window {self.window_ns / 1e9:g} s · durations in ms · ! over an alert threshold "
                  f"(error rate > {self.error_rate:.0%}, p95 > {self.latency_ms:g} ms)")
        if self.overflowed:
            footer += f" · {self.overflowed} spans of routes beyond the first {MAX_ROWS} not counted"
        lines.append([(footer, "dim")])
        return lines
