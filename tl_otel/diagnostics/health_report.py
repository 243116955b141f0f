"""The report behind ``tl_otel.health()``: what every destination delivered, dropped and why, from the counters
the pipeline and the exporters keep. Secrets never appear: only counts, times and error kinds.

Not named ``tl_otel.health``: importing a submodule of that name sets the package attribute, and the
function ``tl_otel.health`` would become this module after its first call."""

from __future__ import annotations

import dataclasses
from typing import Any

from tl_otel.diagnostics.self_metrics import retries


def _exporter_details(exporter: Any) -> dict[str, Any]:
    """Counters an exporter keeps about its backend (PostHog delivery, Scout client and assembly)."""
    details: dict[str, Any] = {}
    for owner, name in ((exporter, "delivery"), (exporter, "client"), (exporter, "assembler")):
        part = getattr(owner, name, None)
        stats = getattr(part, "stats", None)
        if stats is not None and dataclasses.is_dataclass(stats):
            details[name] = dataclasses.asdict(stats)
    return details


def report(runtime: Any) -> dict[str, Any]:
    signals: dict[str, Any] = {}
    for signal, fanout in (("traces", runtime.span_fanout), ("logs", runtime.log_fanout)):
        if fanout is None:
            continue
        destinations = {}
        for destination in fanout.destinations:
            destination.reconcile()  # what an exporter lost after its export returned is not "exported"
            entry = dataclasses.asdict(destination.stats)
            entry["queue_depth"] = destination.queue_depth
            entry["retried"] = retries(destination)
            entry["queue_capacity"] = destination.capacity
            entry.update(_exporter_details(destination.exporter))
            destinations[destination.name] = entry
        signals[signal] = {
            "accepted": fanout.accepted,
            "dropped_queue_full": fanout.dropped,
            "dropped_after_shutdown": fanout.dropped_after_shutdown,
            "dropped_unredactable": fanout.dropped_unprepared,
            "dropped_unreadable": fanout.dropped_unreadable,
            "queue_depth": fanout.queue_depth,
            "queue_capacity": fanout.capacity,
            "destinations": destinations,
        }
    return signals


def summary_line(health: dict[str, Any]) -> str | None:
    """One line for the end of the process when anything was lost, else None."""
    lost = []
    for signal, entry in health.items():
        if entry["dropped_queue_full"]:
            lost.append(f"{signal}: {entry['dropped_queue_full']} dropped (queue full)")
        if entry.get("dropped_unredactable"):
            lost.append(f"{signal}: {entry['dropped_unredactable']} dropped (could not be redacted)")
        if entry.get("dropped_unreadable"):
            lost.append(f"{signal}: {entry['dropped_unreadable']} not delivered to tl-otel's exporters (could not be "
                        "read into a record)")
        for name, destination in entry["destinations"].items():
            count = destination["failed"] + destination["dropped_queue_full"]
            if count:
                reasons = ", ".join(f"{reason} {n}" for reason, n in destination["by_reason"].items())
                lost.append(f"{name}: {count} not delivered" + (f" ({reasons})" if reasons else ""))
            dropped = destination.get("delivery", {}).get("dropped") or {}
            if dropped:
                lost.append(f"{name}: " + ", ".join(f"{n} dropped ({reason})" for reason, n in dropped.items()))
    return "; ".join(lost) if lost else None
