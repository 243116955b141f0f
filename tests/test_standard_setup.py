"""tl-otel beside the instrumentations ``opentelemetry-bootstrap -a install`` adds by default, under the launcher
and with configure(): each log record is exported once (with code.*), and SQLAlchemy over sqlite3 gives one SQL
span per query. The instrumentations are installed into a folder on PYTHONPATH (entry points are found there),
so the rest of the dev venv stays as it is."""

from __future__ import annotations

import collections
import json

import pytest

from tests.standard_setup_helpers import install_matching

pytestmark = pytest.mark.venv

APP = """
import collections, json, logging, sqlalchemy
{configure}
from opentelemetry import trace
from opentelemetry.instrumentation.logging import LoggingInstrumentor
from opentelemetry.sdk.trace import SpanProcessor

spans = collections.Counter()


class Count(SpanProcessor):
    def on_end(self, span):
        if span.kind is trace.SpanKind.CLIENT and span.name == "connect":
            return  # SQLAlchemy's pool connecting, not a query
        spans[f"{{span.kind.name}} {{span.instrumentation_scope.name}}"] += 1


trace.get_tracer_provider().add_span_processor(Count())
engine = sqlalchemy.create_engine("sqlite://")
with engine.connect() as connection:  # the first connection's own queries, before the request
    connection.execute(sqlalchemy.text("select 0"))
spans.clear()
with trace.get_tracer("t").start_as_current_span("GET /items", kind=trace.SpanKind.SERVER):
    logging.getLogger("app").info("listed items", extra={{"count": 3}})
    logging.getLogger("app").warning("slow listing", extra={{"count": 3}})
    with engine.connect() as connection:
        connection.execute(sqlalchemy.text("select 1"))
        connection.execute(sqlalchemy.text("select 2"))
print("STATE", json.dumps({{"spans": spans,
                           "logging_instrumented": LoggingInstrumentor().is_instrumented_by_opentelemetry,
                           "root_handlers": [type(h).__name__ for h in logging.getLogger().handlers]}}))
"""


@pytest.fixture(scope="module")
def instrumentations(tmp_path_factory):
    import sys

    target = tmp_path_factory.mktemp("bootstrap-defaults")
    install_matching(sys.executable, ["logging", "dbapi", "sqlite3"], tmp_path_factory.mktemp("wheels"), target)
    return target


def _state(ran) -> dict:
    assert ran.returncode == 0, ran.stderr
    return json.loads(next(line for line in ran.stdout.splitlines() if line.startswith("STATE"))[6:])


@pytest.mark.parametrize("launcher", [True, False], ids=["launcher", "configure"])
def test_each_record_once_and_one_sql_span_per_query(python, instrumentations, launcher):
    from tests.conftest import REPO

    configure = "" if launcher else "import tl_otel; tl_otel.configure()"
    ran = python(APP.format(configure=configure), launcher=launcher, PYTHONPATH=f"{REPO}:{instrumentations}")
    state = _state(ran)
    assert state["logging_instrumented"] is True  # installed and applied (its record factory is in place)
    assert not [name for name in state["root_handlers"] if name == "LoggingHandler"]
    logs = [r for r in ran.json_lines() if r["type"] == "log"]
    assert collections.Counter(r["message"] for r in logs) == {"listed items": 1, "slow listing": 1}
    assert all(r["count"] == 3 and r["trace_id"] and r["code.function.name"] == "<module>" for r in logs)
    assert state["spans"] == {"SERVER t": 1, "CLIENT opentelemetry.instrumentation.sqlalchemy": 2}
    assert "OTEL_PYTHON_LOG_AUTO_INSTRUMENTATION" not in ran.stderr


def test_driver_spans_when_sqlalchemys_instrumentation_is_disabled(python, instrumentations):
    from tests.conftest import REPO

    ran = python(APP.format(configure=""), launcher=True, PYTHONPATH=f"{REPO}:{instrumentations}",
                 OTEL_PYTHON_DISABLED_INSTRUMENTATIONS="sqlalchemy")
    assert _state(ran)["spans"] == {"SERVER t": 1, "CLIENT opentelemetry.instrumentation.sqlite3": 2}


def test_asking_for_the_instrumentations_log_handler_warns_once_and_still_exports_once(python, instrumentations):
    from tests.conftest import REPO

    ran = python(APP.format(configure=""), launcher=True, PYTHONPATH=f"{REPO}:{instrumentations}",
                 OTEL_PYTHON_LOG_AUTO_INSTRUMENTATION="true", OTEL_PYTHON_LOG_CORRELATION="true")
    _state(ran)
    assert ran.stderr.count("OTEL_PYTHON_LOG_AUTO_INSTRUMENTATION=true asks the logging instrumentation") == 1
    logs = [r for r in ran.json_lines() if r["type"] == "log"]
    assert collections.Counter(r["message"] for r in logs) == {"listed items": 1, "slow listing": 1}
    assert not [key for r in logs for key in r if key.startswith("otel")]  # the injected fields repeat trace_id
