"""What tl-otel adds for SQLAlchemy: one span per query, however the application was onboarded.

- **Driver instrumentations under SQLAlchemy.** ``opentelemetry-bootstrap -a install`` installs an
  instrumentation for every detected library plus its defaults (dbapi, sqlite3, ...). Instrumentations built on
  the DB-API layer (their distribution requires ``opentelemetry-instrumentation-dbapi``: sqlite3, psycopg2,
  psycopg, pymysql, mysqlclient, ...) trace the driver call inside SQLAlchemy's own span for the same query: two
  SQL spans per query, so Scout's ``SQL/Query`` and the remote-down rule's peer counts double. The SQLAlchemy
  span is not current while the driver runs (the instrumentation starts it without activating it), so nothing
  at span level can tell the inner span is a repeat; when SQLAlchemy's instrumentation will be applied, tl-otel
  does not apply those. An application that also uses a driver directly, outside SQLAlchemy, loses those
  queries' spans: OTEL_PYTHON_DISABLED_INSTRUMENTATIONS=sqlalchemy makes the choice the other way.
- **SQLAlchemy 2.1.** The instrumentation declares ``sqlalchemy<2.1``; its event-based tracing works unchanged on
  2.1, so it is applied there as well (:data:`VERSION_OVERRIDE`, used by
  :mod:`tl_otel.startup.instrumentation_versions`), and its asyncio part is patched when the application imports
  it (SQLAlchemy 2.1 no longer installs greenlet, without which ``sqlalchemy.ext.asyncio`` cannot be imported).

docs/getting-started.md has the table for every default instrumentation."""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

DBAPI_DISTRIBUTION = "opentelemetry-instrumentation-dbapi"

# (instrumentation, library, versions tl-otel's tests run it against, the parts patched on import:
#  (module, what is not traced without it, the package it needs to import)); tests/test_instrumentation_versions.py
# and tests/test_pinned_versions.py run it there.
VERSION_OVERRIDE = (
    "sqlalchemy", "sqlalchemy", ">=2.1,<2.2",
    (("sqlalchemy.ext.asyncio", "async engines (greenlet is not installed)", "greenlet"),),
)


def _disabled(env: Mapping[str, str]) -> set[str]:
    return {name.strip() for name in env.get("OTEL_PYTHON_DISABLED_INSTRUMENTATIONS", "").split(",") if name.strip()}


def _requires(dist: Any, distribution: str) -> bool:
    try:
        requirements = dist.requires or []
    except Exception:
        return False
    prefix = distribution.lower()
    return any(requirement.lower().replace("_", "-").startswith(prefix) for requirement in requirements)


@lru_cache(maxsize=1)
def _sqlalchemy_instrumentation_installed() -> bool:
    from importlib.metadata import entry_points

    names = {entry_point.name for entry_point in entry_points(group="opentelemetry_instrumentor")}
    return "sqlalchemy" in names and importlib.util.find_spec("sqlalchemy") is not None


def drivers_left_to_sqlalchemy(env: Mapping[str, str] | None = None) -> bool:
    """Whether SQLAlchemy's instrumentation will be applied, so DB-API driver instrumentations are not."""
    env = os.environ if env is None else env
    disabled = _disabled(env)
    return "sqlalchemy" not in disabled and "*" not in disabled and _sqlalchemy_instrumentation_installed()


def skip_reason(entry_point: Any, env: Mapping[str, str] | None = None) -> str | None:
    """Why tl-otel does not apply this instrumentation, or None."""
    env = os.environ if env is None else env
    dist = getattr(entry_point, "dist", None)
    if dist is None or entry_point.name == "sqlalchemy" or not _requires(dist, DBAPI_DISTRIBUTION):
        return None
    if not drivers_left_to_sqlalchemy(env):
        return None
    return ("a DB-API driver under SQLAlchemy: SQLAlchemy's instrumentation already makes one span per query "
            "(OTEL_PYTHON_DISABLED_INSTRUMENTATIONS=sqlalchemy to trace the driver instead)")
