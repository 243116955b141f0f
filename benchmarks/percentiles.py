"""Latency percentiles by nearest rank: the p-th percentile is the smallest latency that at least p of the
requests did not exceed: p99.9 of 4,000 requests is the one exactly 4 requests were slower than, never an
average of two."""

from __future__ import annotations

import math
from collections.abc import Sequence

# p50, p99, p99.9, with the keys the latency benchmark reports them under.
REPORTED = {"p50": 0.50, "p99": 0.99, "p99.9": 0.999}


def nearest_rank(ordered: Sequence[float], fraction: float) -> float:
    """``ordered`` sorted ascending; NaN when empty."""
    if not ordered:
        return float("nan")
    rank = math.ceil(len(ordered) * fraction)
    return ordered[min(len(ordered), max(rank, 1)) - 1]


def summary_ms(latencies_s: Sequence[float]) -> dict[str, float]:
    """p50, p99, p99.9 and the maximum, in milliseconds, of latencies in seconds."""
    ordered = sorted(latencies_s)
    found = {key: nearest_rank(ordered, fraction) * 1000 for key, fraction in REPORTED.items()}
    found["max"] = ordered[-1] * 1000 if ordered else float("nan")
    return found
