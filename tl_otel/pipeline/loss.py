"""Loss reported as episodes: one warning when a queue or an exporter starts losing items, one when it has
stopped (nothing lost for ``quiet_after`` seconds) with the count and the reasons - not a line per item or
per batch. The pipeline's dispatcher thread polls the counters; the application thread never logs."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

from tl_otel.diagnostics.self_log import logger


class LossMonitor:
    def __init__(self, name: str, counters: Callable[[], Mapping[str, int]], quiet_after: float = 5.0) -> None:
        self.name = name
        self._counters = counters
        self.quiet_after = quiet_after
        self._last = dict(counters())
        self._episode_start: dict[str, int] | None = None
        self._started_at = 0.0
        self._last_loss_at = 0.0
        self.episodes = 0

    @property
    def losing(self) -> bool:
        return self._episode_start is not None

    def poll(self, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        current = dict(self._counters())
        grew = {reason: count - self._last.get(reason, 0) for reason, count in current.items()
                if count > self._last.get(reason, 0)}
        if grew:
            if self._episode_start is None:
                self._episode_start = dict(self._last)
                self._started_at = now
                self.episodes += 1
                logger.warning("%s: started losing items (%s); tl-otel will say when it stops", self.name,
                               ", ".join(f"{reason} {count}" for reason, count in sorted(grew.items())))
            self._last_loss_at = now
        elif self._episode_start is not None and now - self._last_loss_at >= self.quiet_after:
            lost = {reason: count - self._episode_start.get(reason, 0) for reason, count in current.items()
                    if count > self._episode_start.get(reason, 0)}
            logger.warning("%s: stopped losing items; %d lost over %.0f s (%s)", self.name, sum(lost.values()),
                           self._last_loss_at - self._started_at, ", ".join(
                               f"{reason} {count}" for reason, count in sorted(lost.items())))
            self._episode_start = None
        self._last = current
