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


def _installed_version(distribution: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(distribution)
    except PackageNotFoundError:
        return None


def launcher_advice(args: Sequence[str]) -> str:
    return ("not under the launcher: run `" + shlex.join(["opentelemetry-instrument", *args]) + "` (or call "
            "tl_otel.configure() in the application before it imports the libraries to trace)")


def gunicorn_graceful_timeout(args: Sequence[str]) -> float | None:
    """gunicorn's effective graceful timeout, read as gunicorn reads it: GUNICORN_CMD_ARGS, the config file
    (-c, or ./gunicorn.conf.py), then the command line. None when gunicorn is not installed here or cannot
    read its configuration."""
    import sys

    try:
        from gunicorn.app.base import Application
    except ImportError:
        return None

    class ConfigOnly(Application):
        def init(self, parser: object, opts: object, args: object) -> None:
            return None

        def load(self) -> None:
            return None

        def load_config(self) -> None:
            saved = sys.argv
            sys.argv = ["gunicorn", *args[1:]]
            try:
                super().load_config()
            finally:
                sys.argv = saved

    cwd = os.getcwd()
    try:
        return float(ConfigOnly().cfg.graceful_timeout)
    except (Exception, SystemExit):
        return None
    finally:
        os.chdir(cwd)  # gunicorn changes into its --chdir


def graceful_timeout_advice(args: Sequence[str], shutdown_timeout: float) -> list[str]:
    graceful = gunicorn_graceful_timeout(args)
    if graceful is None:
        return [f"make gunicorn's --graceful-timeout (default 30 s) longer than TL_OTEL_SHUTDOWN_TIMEOUT "
                f"({shutdown_timeout:g} s), or workers are killed before their final flush"]
    if graceful <= shutdown_timeout:
        return [f"gunicorn's graceful timeout is {graceful:g} s, not more than TL_OTEL_SHUTDOWN_TIMEOUT "
                f"({shutdown_timeout:g} s): workers can be killed before their final flush - raise "
                "--graceful-timeout or lower TL_OTEL_SHUTDOWN_TIMEOUT"]
    return []


def uvicorn_signal_advice() -> str:
    """uvicorn re-raises the signal that stopped it since 0.29.0 (encode/uvicorn#1600, ``capture_signals``);
    before, it returned from ``run()`` and the process exited 0."""
    from packaging.version import InvalidVersion, Version

    installed = _installed_version("uvicorn")
    if installed is None:
        return "uvicorn is not installed in this environment: install it where the command runs"
    try:
        reraises = Version(installed) >= Version("0.29.0")
    except InvalidVersion:
        reraises = True
    if reraises:
        return (f"uvicorn {installed} re-raises SIGTERM after its graceful stop: tl-otel's handler flushes first, "
                "then the process exits with status 143 (killed by SIGTERM), as it would without tl-otel")
    return (f"uvicorn {installed} returns normally after a SIGTERM (it re-raises the signal only from 0.29): "
            "tl-otel flushes at exit, and the process exits with status 0, as it would without tl-otel")


def celery_command(args: Sequence[str]) -> str | None:
    """The celery sub-command (worker, beat, flower...): the first word that is not an option or its value."""
    with_value = {"-A", "--app", "-b", "--broker", "--result-backend", "--loader", "--config", "--workdir"}
    skip = False
    for arg in args[1:]:
        if skip:
            skip = False
        elif arg in with_value:
            skip = True
        elif not arg.startswith("-"):
            return arg
    return None


def celery_advice(args: Sequence[str]) -> list[str]:
    command = celery_command(args)
    if command != "worker":
        return [f"celery {command or '(no sub-command)'}: not a worker, one process that runs no tasks; a normal "
                "exit flushes through atexit (Celery's own SIGTERM handler exits through SystemExit)"]
    advice: list[str] = []
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
        advice.append(f"Celery --pool={pool}: under opentelemetry-instrument tl-otel monkey patches for the pool "
                      "before anything else (as Celery would, earlier); tl-otel's threads run as greenlets; a normal "
                      "exit flushes everything")
    return advice


def advise(command: Sequence[str] | str, shutdown_timeout: float = 10.0) -> list[str]:
    args = shlex.split(command) if isinstance(command, str) else list(command)
    original = list(args)
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
        advice.append(launcher_advice(original))
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
        advice.extend(graceful_timeout_advice(args, shutdown_timeout))
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
        advice.append(uvicorn_signal_advice())
    elif program == "celery":
        advice.extend(celery_advice(args))
    else:
        advice.extend(opaque_command_advice(args))
    return advice


def opaque_command_advice(args: Sequence[str]) -> list[str]:
    """A command that does not say what it starts (``python manage.py runserver``, a wrapper script): what
    doctor cannot see, and what to check instead."""
    shown = shlex.join(args)
    return [
        f"`{shown}` does not say what it starts, so doctor cannot tell its server model. If it calls "
        "uvicorn.run(...), gunicorn or starts `celery ... worker`, ask doctor about that command "
        "(`tl-otel doctor -- uvicorn module:app --reload`, `tl-otel doctor -- celery -A module worker "
        "--pool=prefork`): the advice depends on the server, its reload and its pool",
        "then check what happened on stderr: one `tl-otel configured` line per process that serves; "
        "a reloader or supervisor parent (uvicorn.run(..., reload=True) or workers=N called from code) "
        "prints one of its own, as tl-otel cannot see from its command line that it only watches; under "
        "`celery worker`, Celery's own banner names the pool (`concurrency: N (prefork)`)",
        "a normal exit flushes through atexit, SIGTERM through tl-otel's handler",
    ]
