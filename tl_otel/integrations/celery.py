"""How one Celery task run ended - ``success``, ``retry`` or ``failure`` - from its run span: the one answer
PostHog's ``worker_task`` status and the error-rate alert rule both use.

An attempt that asked to be retried (``celery.state`` ``RETRY``: ``self.retry()``, ``autoretry_for``) is a
retry, not a failure, whatever its span status says: the task is not done, and the attempt that gives up
after its last retry ends in ``FAILURE`` with the error."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from opentelemetry.trace import StatusCode

SUCCESS, RETRY, FAILURE = "success", "retry", "failure"


def task_run_outcome(attributes: Mapping[str, Any], status_code: StatusCode) -> str:
    state = attributes.get("celery.state")
    if state == "RETRY":
        return RETRY
    if status_code is StatusCode.ERROR or state == "FAILURE":
        return FAILURE
    return SUCCESS
