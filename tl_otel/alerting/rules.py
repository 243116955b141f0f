"""The seed's alert rules, evaluated over window totals (never per span).

- ``error_rate``, per signal (API requests, worker tasks): errors / total above TL_OTEL_ALERT_ERROR_RATE,
  with at least TL_OTEL_ALERT_MIN_REQUESTS in the window;
- ``latency``, API requests: p95 above TL_OTEL_ALERT_LATENCY_MS (more than 5 % of requests slower), with
  at least the minimum number of requests;
- ``remote_down``, per peer: at least 3 calls in the window and at least half of them failed (connection
  errors, 5xx, timeouts);
- ``rate_limit``: any HTTP 429, served or returned by a remote service;
- ``disk_full``, per path: free space under TL_OTEL_ALERT_DISK_MIN_FREE.

``evaluate`` also returns the evidence that a condition does *not* hold (``holds=False``), because an alert
resolves on evidence only, never on missing data: a rate under its threshold over at least the minimum
number of requests; no traffic at all for a whole window ("traffic stopped"); successful calls to a peer;
a window without 429s; free space above the threshold. A window with too few requests is no evidence
either way. Evidence of absence (nothing in the window) counts only when the totals are the whole
service's (``complete``): a process that lost its shared store sees only its own share.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from typing import Any

from tl_otel.alerting.processor import ERRORS, LIMITED, SLOW, TOTAL
from tl_otel.diagnostics.self_log import logger

SIGNAL_NAMES = {"api": "API requests", "task": "worker tasks"}
REMOTE_MIN_CALLS = 3
REMOTE_FAILURE_RATIO = 0.5


@dataclass
class Condition:
    rule: str
    key: str  # the group: "api", "task", a peer, a path
    value: float
    threshold: float
    summary: str
    details: list[str] = field(default_factory=list)
    keys: list[tuple[str, str]] = field(default_factory=list)  # the (signal, key) counters behind it
    holds: bool = True  # False: evidence that it is over (the summary states the resolving value)
    at_once: bool = False  # evidence covering a whole window already (nothing seen): resolves without waiting


def clear(rule: str, key: str, value: float, threshold: float, summary: str, at_once: bool = False) -> Condition:
    return Condition(rule, key, value, threshold, summary, holds=False, at_once=at_once)


def no_calls(peer: str, window_s: float, service: str) -> Condition:
    """A window without calls to a peer that was down: resolved, saying why."""
    return clear("remote_down", peer, 0.0, REMOTE_FAILURE_RATIO,
                 f"remote service {peer}: no calls from {service} in the last {window_s:g} s", at_once=True)


def _worst_keys(totals: dict[tuple[str, str], list[int]], signal: str, slot: int) -> list[tuple[str, str]]:
    rows = sorted(((counts[slot] / counts[TOTAL], key) for (sig, key), counts in totals.items()
                   if sig == signal and counts[slot]), reverse=True)
    return [(signal, key) for _, key in rows[:3]]


def _worst(totals: dict[tuple[str, str], list[int]], signal: str, slot: int) -> list[str]:
    return [f"{key}: {totals[(sig, key)][slot]} of {totals[(sig, key)][TOTAL]} "
            f"({totals[(sig, key)][slot] / totals[(sig, key)][TOTAL]:.1%})"
            for sig, key in _worst_keys(totals, signal, slot)]


def evaluate(totals: dict[tuple[str, str], list[int]], settings: Any, service: str,
             complete: bool = True) -> list[Condition]:
    found: list[Condition] = []
    window = f"{settings.alert_window_s:g} s"
    for signal, label in SIGNAL_NAMES.items():
        total = sum(c[TOTAL] for (sig, _), c in totals.items() if sig == signal)
        rules = ("error_rate", "latency") if signal == "api" else ("error_rate",)
        if total == 0 and complete:
            found.extend(clear(rule, signal, 0.0, 0.0, f"{_RULE_NAMES[rule]} for {label} of {service}: traffic "
                               f"stopped, no requests in the last {window}", at_once=True) for rule in rules)
        if total < settings.alert_min_requests:
            continue  # too few to say anything, either way
        errors = sum(c[ERRORS] for (sig, _), c in totals.items() if sig == signal)
        rate = errors / total
        if rate > settings.alert_error_rate:
            found.append(Condition("error_rate", signal, rate, settings.alert_error_rate,
                                   f"error rate {rate:.1%} > {settings.alert_error_rate:.0%} for {label} of {service}"
                                   f" ({errors} of {total})", _worst(totals, signal, ERRORS),
                                   _worst_keys(totals, signal, ERRORS)))
        else:
            found.append(clear("error_rate", signal, rate, settings.alert_error_rate,
                               f"error rate {rate:.1%} ≤ {settings.alert_error_rate:.0%} for {label} of {service}"
                               f" ({errors} of {total} in the last {window})"))
        if signal == "api":
            slow = sum(c[SLOW] for (sig, _), c in totals.items() if sig == signal)
            if slow / total > 0.05:
                found.append(Condition("latency", signal, slow / total, settings.alert_latency_ms,
                                       f"p95 response time above {settings.alert_latency_ms} ms for {label} of "
                                       f"{service} ({slow} of {total} slower)", _worst(totals, signal, SLOW),
                                       _worst_keys(totals, signal, SLOW)))
            else:
                found.append(clear("latency", signal, slow / total, settings.alert_latency_ms,
                                   f"p95 response time within {settings.alert_latency_ms} ms for {label} of "
                                   f"{service} ({slow} of {total} slower in the last {window})"))
    for (signal, key), counts in totals.items():
        if signal != "peer" or not counts[TOTAL]:
            continue
        ratio = counts[ERRORS] / counts[TOTAL]
        if counts[TOTAL] >= REMOTE_MIN_CALLS and ratio >= REMOTE_FAILURE_RATIO:
            found.append(Condition("remote_down", key, ratio, REMOTE_FAILURE_RATIO,
                                   f"remote service {key} failing: {counts[ERRORS]} of {counts[TOTAL]} calls from "
                                   f"{service}", keys=[(signal, key)]))
        elif ratio < REMOTE_FAILURE_RATIO:
            found.append(clear("remote_down", key, ratio, REMOTE_FAILURE_RATIO,
                               f"remote service {key} answering: {counts[TOTAL] - counts[ERRORS]} of {counts[TOTAL]} "
                               f"calls from {service} succeeded in the last {window}"))
    limited = sum(c[LIMITED] for c in totals.values())
    if limited:
        where = sorted({key for (sig, key), c in totals.items() if c[LIMITED]})
        found.append(Condition("rate_limit", "service", limited, 0,
                               f"rate limit exceeded: {limited} HTTP 429 in {service}", where[:5],
                               [(sig, key) for (sig, key), c in totals.items() if c[LIMITED]][:5]))
    elif complete:
        found.append(clear("rate_limit", "service", 0, 0, f"rate limit: no HTTP 429 in {service} in the last {window}",
                           at_once=True))
    found.extend(disk_conditions(settings))
    return found


_RULE_NAMES = {"error_rate": "error rate", "latency": "p95 response time"}


# Paths of TL_OTEL_ALERT_DISK_PATHS already said to be unreadable (one WARNING each per process).
_unreadable_paths: set[str] = set()


def disk_conditions(settings: Any) -> list[Condition]:
    kind, limit = settings.alert_disk_min_free
    found = []
    for path in settings.alert_disk_paths:
        try:
            usage = shutil.disk_usage(os.path.expanduser(path))
        except OSError as exc:
            if path not in _unreadable_paths:
                _unreadable_paths.add(path)
                logger.warning("TL_OTEL_ALERT_DISK_PATHS names %r, which cannot be checked (%s): its free space is "
                               "not watched until it can be", path, exc.strerror or type(exc).__name__)
            continue
        _unreadable_paths.discard(path)
        free_pct = usage.free / usage.total * 100 if usage.total else 100.0
        low = free_pct < limit if kind == "percent" else usage.free < limit
        shown = f"{limit:g}%" if kind == "percent" else f"{limit / 2**30:.1f} GiB"
        state = f"{path} has {usage.free / 2**30:.1f} GiB free ({free_pct:.1f}%), threshold {shown}"
        if low:
            found.append(Condition("disk_full", path, free_pct, limit, f"disk almost full: {state}"))
        else:
            found.append(clear("disk_full", path, free_pct, limit, f"disk space back: {state}"))
    return found
