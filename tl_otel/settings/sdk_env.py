"""Keeps the SDK's own OTEL_* variables from crashing start-up.

The installed SDK raises ValueError when it constructs a batch processor or metric reader from some
out-of-range values (OTEL_BSP_MAX_QUEUE_SIZE=0, a batch size above the queue size, ...), where the spec
says "warn and ignore". tl-otel validates them through the registry first; a variable that failed
validation is removed from the process environment, so any SDK component built later (by tl-otel, by
another configurator, by user code) sees it as unset and uses the spec default. Endpoints are the
exception: unset, the SDK would send to its default host (localhost:4318), which the user did not choose.
An endpoint read as the user's host (``collector:4318`` → ``http://collector:4318``) is written back in
that form, so the SDK's exporters send where tl-otel's checks look.
"""

from __future__ import annotations

from collections.abc import Iterable, MutableMapping
from typing import Any

from tl_otel.settings.resolve import Problem, refuses_to_default


def unset_invalid_sdk_variables(problems: Iterable[Problem], environ: MutableMapping[str, str]) -> list[str]:
    removed = []
    for problem in problems:
        # A refused endpoint stays as the user wrote it: unset, the SDK would send to its default host.
        if refuses_to_default(problem.setting):
            continue
        if problem.source.startswith("OTEL_") and problem.source in environ:
            del environ[problem.source]
            removed.append(problem.source)
    return removed


def normalise_sdk_endpoints(settings: Any, environ: MutableMapping[str, str]) -> None:
    from tl_otel.settings.registry import SETTINGS

    for setting in SETTINGS:
        if not refuses_to_default(setting):
            continue
        source, value = settings.source(setting.name), getattr(settings, setting.name)
        if source.startswith("OTEL_") and isinstance(value, str) and environ.get(source) != value:
            environ[source] = value
