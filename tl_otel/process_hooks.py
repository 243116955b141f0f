"""Where a process can end without tl-otel's shutdown, and the hook that covers each exit.

- normal exit: ``atexit``.
- SIGTERM: uvicorn re-raises it after its graceful shutdown, so the process dies from the signal and
  atexit never runs. tl-otel installs a SIGTERM handler (only over the default disposition) that flushes
  within the shutdown deadline and then re-delivers the signal with the default disposition, so the
  exit status stays what it was (143). Servers that install their own handler later (uvicorn, Celery)
  chain back to this one or exit normally.
- Celery prefork children leave through ``os._exit``: flush on ``worker_process_shutdown``, bounded.
- Celery's logging set-up removes root handlers and its task logger does not propagate: re-attach the
  log handler on ``after_setup_logger`` / ``after_setup_task_logger``."""

from __future__ import annotations

import atexit
import importlib.util
import logging
import os
import signal
import threading
from collections.abc import Callable
from typing import Any

from tl_otel.self_log import logger

_sigterm_installed = False


def install_atexit(shutdown: Callable[[], object]) -> None:
    atexit.register(shutdown)


def install_sigterm(shutdown: Callable[[], object]) -> bool:
    global _sigterm_installed
    if _sigterm_installed or threading.current_thread() is not threading.main_thread():
        return False
    try:
        if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
            return False  # the application chose its own behaviour; leave it alone

        def on_sigterm(signum: int, frame: Any) -> None:
            try:
                shutdown()
            finally:
                signal.signal(signal.SIGTERM, signal.SIG_DFL)
                os.kill(os.getpid(), signal.SIGTERM)

        signal.signal(signal.SIGTERM, on_sigterm)
    except (ValueError, OSError):
        return False
    _sigterm_installed = True
    return True


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
        from tl_otel.logging_bridge import attach_to, install

        def on_setup_logger(logger: logging.Logger | None = None, **_: Any) -> None:
            install(log_handler, log_level)

        def on_setup_task_logger(logger: logging.Logger | None = None, **_: Any) -> None:
            if logger is not None and not logger.propagate:
                attach_to(logger, log_handler)

        signals.after_setup_logger.connect(on_setup_logger, weak=False)
        signals.after_setup_task_logger.connect(on_setup_task_logger, weak=False)
    return True
