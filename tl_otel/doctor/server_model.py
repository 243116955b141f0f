"""Advice for the server command line tl-otel will run under (``tl-otel doctor -- gunicorn ...``)."""

from __future__ import annotations

import os
import shlex
from collections.abc import Sequence


def _option(args: Sequence[str], *names: str) -> str | None:
    for index, arg in enumerate(args):
        for name in names:
            if arg == name and index + 1 < len(args):
                return args[index + 1]
            if name.startswith("--") and arg.startswith(name + "="):
                return arg.split("=", 1)[1]
            if not name.startswith("--") and arg.startswith(name) and len(arg) > len(name):
                return arg[len(name):]
    return None


def advise(command: Sequence[str] | str) -> list[str]:
    args = shlex.split(command) if isinstance(command, str) else list(command)
    if args and os.path.basename(args[0]) == "opentelemetry-instrument":
        args = args[1:]
        launched = True
    else:
        launched = False
    if not args:
        return []
    program = os.path.basename(args[0])
    if program in ("python", "python3") and len(args) > 2 and args[1] == "-m":
        program, args = args[2], args[2:]
    advice: list[str] = []
    if not launched:
        advice.append("not under opentelemetry-instrument: libraries are instrumented only if the application "
                      "calls tl_otel.configure() before importing them")
    if program == "gunicorn":
        workers = _option(args, "-w", "--workers") or "1"
        worker_class = _option(args, "-k", "--worker-class") or "sync"
        preload = "--preload" in args
        advice.append(f"gunicorn, {workers} worker(s), {worker_class} workers{', --preload' if preload else ''}: "
                      "tl-otel is configured once in the master and rebuilt in each worker at fork (empty queues, "
                      "new threads, the worker's own pid)")
        if "uvicorn" in worker_class.lower():
            advice.append("UvicornWorker resets SIGTERM in each worker; tl-otel puts its handler back so the last "
                          "spans are flushed before the worker dies of the signal - keep TL_OTEL_HANDLE_SIGTERM on")
        advice.append("set gunicorn's --graceful-timeout above TL_OTEL_SHUTDOWN_TIMEOUT, or workers are killed "
                      "before their final flush")
        if not workers.isdigit() or int(workers) > 1:
            advice.append("alerts: workers share windows through the local store (TL_OTEL_ALERT_STORE=local, the "
                          "default); across hosts set TL_OTEL_ALERT_REDIS_URL")
    elif program == "uvicorn":
        workers = _option(args, "--workers")
        if "--reload" in args:
            advice.append("uvicorn --reload: for development; tl-otel leaves the reloader parent and multiprocessing's "
                          "resource tracker untouched and configures the server process, once per reload (one "
                          "start-up line each)")
        if workers and workers != "1":
            advice.append(f"uvicorn --workers {workers}: each worker is a fresh interpreter that configures itself; "
                          "alerts are shared through the local store (the default)")
        advice.append("uvicorn re-raises SIGTERM after its graceful stop: tl-otel's handler flushes first "
                      "(exit status 143 as before)")
    elif program == "celery":
        pool = _option(args, "-P", "--pool") or "prefork"
        per_child = _option(args, "--max-tasks-per-child")
        if pool == "prefork":
            advice.append("Celery prefork: each child flushes on worker_process_shutdown within "
                          "TL_OTEL_CELERY_FLUSH_TIMEOUT (children leave through os._exit, atexit never runs)")
            if per_child:
                advice.append(f"--max-tasks-per-child={per_child}: a child exits every {per_child} task(s); each "
                              "exit costs a bounded flush - keep TL_OTEL_CELERY_FLUSH_TIMEOUT small (default 2 s)")
        elif pool in ("solo", "threads"):
            advice.append(f"Celery --pool={pool}: one process; its normal exit flushes everything")
        elif pool in ("gevent", "eventlet"):
            advice.append(f"Celery --pool={pool}: not tested with tl-otel; its queues use real threads, which "
                          "monkey-patching may turn into greenlets")
    else:
        advice.append(f"{program}: no specific advice; a normal exit flushes through atexit, SIGTERM through "
                      "tl-otel's handler")
    return advice
