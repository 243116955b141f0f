"""The request-path benchmark's app under scout_apm's own instrumentation (no OpenTelemetry): its Starlette
middleware and its SQLAlchemy event listeners, reporting to the core agent at ``BENCH_SCOUT_AGENT`` (the
benchmark's fake agent), as a scout_apm user would set it up."""

from __future__ import annotations

import os

from scout_apm.api import Config
from scout_apm.async_.starlette import ScoutMiddleware
from scout_apm.sqlalchemy import instrument_sqlalchemy

from benchmarks.app import app, engine

Config.set(key="bench-key", name="bench", monitor=True, core_agent_launch=False,
           core_agent_socket_path=os.environ["BENCH_SCOUT_AGENT"])
instrument_sqlalchemy(engine)
app.add_middleware(ScoutMiddleware)

__all__ = ["app"]
