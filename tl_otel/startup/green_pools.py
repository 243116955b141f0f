"""Celery's gevent and eventlet pools under the launcher: monkey patching comes first.

Celery patches the standard library for these pools in ``celery.__main__`` (``maybe_patch_concurrency``), as its
first act. Under ``opentelemetry-instrument`` that is too late: ``sitecustomize`` has already built the
pipeline (real threads, real locks) and the instrumentations have imported ``redis``, ``ssl`` and ``urllib3``.
gevent then patches around threads it does not know (its fork hooks fail, ``threading`` loses track of them)
and kombu's Redis transport mixes unpatched and patched sockets: tasks stop running. So tl-otel's distro
applies the same patch, for the same command line, before anything else is built; Celery's own call later
finds it done. tl-otel's threads are then greenlets, which yield on every wait and socket call.

With ``tl_otel.configure()`` in the application nothing is needed: Celery has patched before it imports the
application."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

GREEN_POOLS = ("gevent", "eventlet")


def _pool_option(args: Sequence[str]) -> str | None:
    """The value of ``-P``/``--pool``, read as Celery's ``maybe_patch_concurrency`` reads it."""
    for index, arg in enumerate(args):
        if arg.startswith("--pool"):
            name, sep, value = arg.partition("=")
            if name == "--pool":
                return value if sep else (args[index + 1] if index + 1 < len(args) else None)
        elif arg == "-P":
            return args[index + 1] if index + 1 < len(args) else None
    return None


def celery_green_pool(argv: Sequence[str]) -> str | None:
    """``gevent`` or ``eventlet`` when this interpreter command line is a Celery command Celery would patch
    for (``celery ... -P gevent``, ``python -m celery ...``; not ``celery multi``, which only starts others)."""
    args = list(argv[1:])
    while args and args[0].startswith("-") and args[0] != "-m":
        args = args[2:] if args[0] in ("-W", "-X") else args[1:]
    if args[:2] == ["-m", "celery"]:
        args = args[2:]
    elif args and os.path.basename(args[0]) == "celery":
        args = args[1:]
    else:
        return None
    if "multi" in args:
        return None
    pool = _pool_option(args)
    return pool if pool in GREEN_POOLS else None


def patch_first(argv: Sequence[str] | None = None) -> str | None:
    """Monkey patch for the Celery green pool this process is started with, as Celery would; the pool's name,
    or None when there is nothing to patch (or the pool's library is not installed: Celery says so itself)."""
    argv = list(getattr(sys, "orig_argv", None) or sys.argv) if argv is None else list(argv)
    pool = celery_green_pool(argv)
    try:
        if pool == "gevent":
            from gevent import monkey

            monkey.patch_all()
        elif pool == "eventlet":
            import eventlet

            eventlet.monkey_patch()
    except ImportError:
        return None
    return pool
