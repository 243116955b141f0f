"""What tl-otel adds for Celery: how a task run ended, and the worker's signals that keep telemetry whole.

- **Outcome**: how one task run ended - ``success``, ``retry`` or ``failure`` - from its run span: the one answer
  PostHog's ``worker_task`` status and the error-rate alert rule both use. An attempt that asked to be retried
  (``celery.state`` ``RETRY``: ``self.retry()``, ``autoretry_for``) is a retry, not a failure, whatever its span
  status says: the task is not done, and the attempt that gives up after its last retry ends in ``FAILURE``
  with the error.
- **Prefork children** leave through ``os._exit``: flush on ``worker_process_shutdown``, bounded.
- **Logging**: Celery's logging set-up removes root handlers (the bridge is not among them: see
  ``tl_otel.integrations.logging``) and sets the root level (its default WARNING is treated as Python's,
  again on ``after_setup_logger``); its task logger does not propagate: the log handler is attached to it on
  ``after_setup_task_logger``, and its level, left at WARNING, is lowered to ``TL_OTEL_LOG_LEVEL`` for the
  bridge alone (Celery's own handler prints what it printed)."""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Callable, Mapping
from typing import Any

from opentelemetry.trace import StatusCode

from tl_otel.diagnostics.self_log import logger

SUCCESS, RETRY, FAILURE = "success", "retry", "failure"


def task_run_outcome(attributes: Mapping[str, Any], status_code: StatusCode) -> str:
    state = attributes.get("celery.state")
    if state == "RETRY":
        return RETRY
    if status_code is StatusCode.ERROR or state == "FAILURE":
        return FAILURE
    return SUCCESS


def install_celery_hooks(flush_child: Callable[[], object], log_handler: Any, log_level: int) -> bool:
    """Connect Celery signals when Celery is installed (importing ``celery.signals`` is cheap)."""
    if importlib.util.find_spec("celery") is None:
        return False
    try:
        from celery import signals
    except Exception:
        return False

    def on_child_shutdown(**_: Any) -> None:
        try:
            flush_child()
        except Exception:
            logger.warning("flush at Celery child shutdown failed", exc_info=True)

    signals.worker_process_shutdown.connect(on_child_shutdown, weak=False)

    if log_handler is not None:
        from tl_otel.integrations.logging import attach_to, install, lower_for_bridge

        def on_setup_logger(logger: logging.Logger | None = None, **_: Any) -> None:
            install(log_handler, log_level)

        def on_setup_task_logger(logger: logging.Logger | None = None, **_: Any) -> None:
            if logger is not None and not logger.propagate:
                attach_to(logger, log_handler)
                # Celery leaves its task logger at --loglevel (WARNING by default): get_task_logger(...).info()
                # would never be made. Lowered for the bridge alone, as the root is.
                lower_for_bridge(logger, log_level)

        signals.after_setup_logger.connect(on_setup_logger, weak=False)
        signals.after_setup_task_logger.connect(on_setup_task_logger, weak=False)
    return True
