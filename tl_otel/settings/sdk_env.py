"""Keeps the SDK's own OTEL_* variables from crashing start-up.

The installed SDK raises ValueError when it constructs a batch processor or metric reader from some
out-of-range values (OTEL_BSP_MAX_QUEUE_SIZE=0, a batch size above the queue size, ...), where the spec
says "warn and ignore". tl-otel validates them through the registry first; a variable that failed
validation is removed from the process environment, so any SDK component built later (by tl-otel, by
another configurator, by user code) sees it as unset and uses the spec default.
"""

from __future__ import annotations

from collections.abc import Iterable, MutableMapping

from tl_otel.settings.resolve import Problem


def unset_invalid_sdk_variables(problems: Iterable[Problem], environ: MutableMapping[str, str]) -> list[str]:
    removed = []
    for problem in problems:
        if problem.source.startswith("OTEL_") and problem.source in environ:
            del environ[problem.source]
            removed.append(problem.source)
    return removed
