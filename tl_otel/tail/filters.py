"""``--errors``, ``--slow MS``, ``--route PATTERN``, ``--trace ID``, ``--service NAME``: the one place that decides
what is shown, asked once per finished trace, per line outside a trace, and per row of ``--top``."""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from typing import Any

from tl_otel.tail.records import ROOT_KINDS, Record, is_alert, is_error


def route_names(record: Record) -> tuple[str, ...]:
    """What ``--route`` matches on a request or task: its span name, route template and task name."""
    names = [record.get("message"), record.get("http.route"), record.get("celery.task_name")]
    return tuple(name for name in names if isinstance(name, str))


@dataclass(frozen=True)
class Filters:
    errors: bool = False
    slow_ms: float | None = None
    route: str | None = None
    trace: str | None = None
    service: str | None = None

    def _service_ok(self, services: Any) -> bool:
        return self.service is None or any(fnmatch.fnmatchcase(str(name), self.service) for name in services)

    def _route_ok(self, names: Any) -> bool:
        return self.route is None or any(fnmatch.fnmatchcase(name, self.route) for name in names)

    def accepts_trace(self, trace_id: str, records: list[Record]) -> bool:
        if self.trace is not None and not trace_id.startswith(self.trace.lower()):
            return False
        if not self._service_ok({record.get("service.name") for record in records}):
            return False
        roots = [record for record in records if record.get("span.kind") in ROOT_KINDS]
        if self.route is not None and not self._route_ok([name for root in roots for name in route_names(root)]):
            return False
        if self.slow_ms is not None and not any((root.get("duration_ms") or 0) >= self.slow_ms for root in roots):
            return False
        return not self.errors or any(is_error(record) for record in records)

    def accepts_line(self, record: Record) -> bool:
        """A line outside any trace (start-up, a worker's own log, an alert)."""
        if not self._service_ok((record.get("service.name"),)):
            return False
        if is_alert(record):
            return True  # an alert stands out whatever else is asked for
        if self.trace is not None or self.route is not None or self.slow_ms is not None:
            return False
        return not self.errors or is_error(record)

    def accepts_row(self, service: str, names: tuple[str, ...]) -> bool:
        return self._service_ok((service,)) and self._route_ok(names)
