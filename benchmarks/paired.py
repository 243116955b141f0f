"""Paired comparisons for noisy machines: variants run in an order rotated every round, each ratio is taken
between two variants of the same round (so a slow minute slows both sides), then summarised as the median over
a run's rounds and the median of several runs' medians."""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from typing import TypeVar

T = TypeVar("T")

Round = dict[str, float]  # one number per variant, from the same round


def rotated(items: Sequence[T], round_index: int) -> list[T]:
    """Round r starts at item r mod n, so no variant always runs first (after a cold start) or last."""
    start = round_index % len(items)
    return [*items[start:], *items[:start]]


def ratio(numerator: str, denominator: str) -> Callable[[Round], float | None]:
    def of(values: Round) -> float | None:
        if numerator not in values or denominator not in values or not values[denominator]:
            return None
        return values[numerator] / values[denominator]
    return of


def run_medians(runs: list[list[Round]], per_round: Callable[[Round], float | None]) -> list[float]:
    """The median over each run's rounds of a per-round figure (rounds where it cannot be computed are left out)."""
    medians = []
    for rounds in runs:
        values = [value for value in map(per_round, rounds) if value is not None]
        if values:
            medians.append(statistics.median(values))
    return medians


def summary(runs: list[list[Round]], per_round: Callable[[Round], float | None]) -> dict[str, object] | None:
    """``{"median": median of the run medians, "runs": [each run's median]}``, or None when never computable."""
    medians = run_medians(runs, per_round)
    return {"median": statistics.median(medians), "runs": medians} if medians else None
