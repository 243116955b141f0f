"""Coexistence with OpenTelemetry's standard onboarding, ``opentelemetry-bootstrap -a install``: it installs an
instrumentation for every detected library plus its defaults (logging, asyncio, threading, exceptions, dbapi,
sqlite3, urllib, wsgi). Two of them would describe what tl-otel or another instrumentation already describes:

- ``logging`` adds its own handler to the root logger beside tl-otel's bridge: every record exported twice,
  the second copy without ``code.*``. tl-otel tells it not to (``enable_log_auto_instrumentation=False``); its
  record factory stays (trace ids injected into records only when OTEL_PYTHON_LOG_CORRELATION asks for it).
- Instrumentations built on the DB-API layer (their distribution requires ``opentelemetry-instrumentation-dbapi``:
  sqlite3, psycopg2, psycopg, pymysql, mysqlclient, ...) trace the driver call inside SQLAlchemy's own span for
  the same query: two SQL spans per query, so Scout's ``SQL/Query`` and the remote-down rule's peer counts double.
  The SQLAlchemy span is not current while the driver runs (the instrumentation starts it without activating
  it), so nothing at span level can tell the inner span is a repeat; when SQLAlchemy's instrumentation will be
  applied, tl-otel does not apply those. An application that also uses a driver directly, outside SQLAlchemy,
  loses those queries' spans: OTEL_PYTHON_DISABLED_INSTRUMENTATIONS=sqlalchemy makes the choice the other way.

docs/getting-started.md has the table for every default instrumentation."""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from tl_otel.diagnostics.self_log import logger

DBAPI_DISTRIBUTION = "opentelemetry-instrumentation-dbapi"
LOG_HANDLER_VARIABLE = "OTEL_PYTHON_LOG_AUTO_INSTRUMENTATION"
_warned: set[str] = set()


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


def skip_reason(entry_point: Any, env: Mapping[str, str] | None = None) -> str | None:
    """Why tl-otel does not apply this instrumentation, or None."""
    env = os.environ if env is None else env
    dist = getattr(entry_point, "dist", None)
    if dist is None or entry_point.name == "sqlalchemy" or not _requires(dist, DBAPI_DISTRIBUTION):
        return None
    disabled = _disabled(env)
    if "sqlalchemy" in disabled or "*" in disabled or not _sqlalchemy_instrumentation_installed():
        return None
    return ("a DB-API driver under SQLAlchemy: SQLAlchemy's instrumentation already makes one span per query "
            "(OTEL_PYTHON_DISABLED_INSTRUMENTATIONS=sqlalchemy to trace the driver instead)")


def instrumentor_kwargs(name: str, settings: Any, env: Mapping[str, str] | None = None) -> dict[str, Any]:
    if name != "logging" or not settings.logging:
        return {}
    env = os.environ if env is None else env
    if env.get(LOG_HANDLER_VARIABLE, "").strip().lower() == "true" and LOG_HANDLER_VARIABLE not in _warned:
        _warned.add(LOG_HANDLER_VARIABLE)
        logger.warning("%s=true asks the logging instrumentation to add its own log handler; tl-otel does not let it, "
                       "because tl-otel's bridge already exports every record (it would export each one twice). Set "
                       "TL_OTEL_LOGGING=false to use the instrumentation's handler instead", LOG_HANDLER_VARIABLE)
    return {"enable_log_auto_instrumentation": False}
