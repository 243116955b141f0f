"""Which processes the launcher starts tl-otel in, and which it leaves untouched.

``opentelemetry-instrument`` works through ``sitecustomize``, so every Python process started with its
environment runs tl-otel's distro: the application's servers and workers, but also helpers that serve
nothing. Those are left untouched (no configuration, no instrumentation, no start-up line, no threads):

- **multiprocessing's helper processes**: the resource tracker and the forkserver are started as
  ``python -c "from multiprocessing.<helper> import main; main(...)"``. (A ``spawn_main`` child is not a
  helper: it runs the application's own code, e.g. the server under ``uvicorn --reload`` or
  ``--workers``.)
- **reloader parents**: ``uvicorn --reload`` (or ``UVICORN_RELOAD=true``) and ``fastapi dev`` only watch
  files and start the server again in a fresh ``spawn_main`` child, which configures itself.

Processes that serve, or that fork the serving processes (gunicorn's master, Celery's main process), are
configured as before: their children inherit what the parent built and rebuild it at fork. The decision
reads ``sys.orig_argv``, the interpreter's own command line, which is set before ``sitecustomize`` runs."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence

_TRUE = {"1", "true", "yes", "on"}
_UNDECIDED = object()
_launched_helper: object = _UNDECIDED


def _program(argv: Sequence[str]) -> tuple[str | None, str | None, list[str]]:
    """(``-c`` code, program name, its arguments) from an interpreter command line."""
    index = 1
    while index < len(argv):
        arg = argv[index]
        if arg == "-c":
            return (argv[index + 1] if index + 1 < len(argv) else ""), None, []
        if arg == "-m":
            return None, (argv[index + 1] if index + 1 < len(argv) else None), list(argv[index + 2:])
        if arg in ("-W", "-X", "--check-hash-based-pycs"):
            index += 2
            continue
        if arg.startswith("-"):
            index += 1
            continue
        return None, os.path.basename(arg), list(argv[index + 1:])
    return None, None, []


def helper_role(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> str | None:
    """Why this process is a helper tl-otel leaves untouched, or None for a process to configure."""
    argv = list(getattr(sys, "orig_argv", None) or sys.argv) if argv is None else list(argv)
    environ = os.environ if environ is None else environ
    code, program, args = _program(argv)
    if code is not None:
        if "multiprocessing" in code and "spawn_main" not in code:
            return "multiprocessing helper process"
        return None
    if program == "uvicorn" and ("--reload" in args or environ.get("UVICORN_RELOAD", "").lower() in _TRUE):
        return "uvicorn's reloader (the server runs in a child process)"
    if program == "fastapi" and args[:1] == ["dev"] and "--no-reload" not in args:
        return "fastapi dev's reloader (the server runs in a child process)"
    return None


def launched_helper() -> str | None:
    """:func:`helper_role` of this process, decided once (the launcher asks for each instrumentor)."""
    global _launched_helper
    if _launched_helper is _UNDECIDED:
        try:
            _launched_helper = helper_role()
        except Exception:
            _launched_helper = None
    return _launched_helper  # type: ignore[return-value]
