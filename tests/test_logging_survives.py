"""The logging bridge survives the application's own logging configuration, made after tl-otel configured:
every record arrives exactly once as a JSON line (trace ids, extras), the application's handlers keep their
format, level and filters, tl-otel says once that it re-attached, and TL_OTEL_LOGGING=false is hands off."""

from __future__ import annotations

import pytest

APP = """
import logging, logging.config, os, sys, tempfile
from opentelemetry import trace
{configure}
FORMAT = "APP %(levelname)s %(name)s %(message)s"
SHAPE = {shape!r}
DICT_CONFIG = {{
    "version": 1,
    "formatters": {{"plain": {{"format": FORMAT}}}},
    "filters": {{"only_app": {{"name": "app"}}}},
    "handlers": {{"err": {{"class": "logging.StreamHandler", "formatter": "plain", "filters": ["only_app"],
                           "stream": "ext://sys.stderr"}}}},
    "root": {{"handlers": ["err"], "level": "INFO"}},
}}
FILE_CONFIG = '''
[loggers]
keys=root
[handlers]
keys=err
[formatters]
keys=plain
[logger_root]
level=INFO
handlers=err
[handler_err]
class=StreamHandler
formatter=plain
args=(sys.stderr,)
[formatter_plain]
format=APP %(levelname)s %(name)s %(message)s
'''


def reconfigure():
    if SHAPE.startswith("dictConfig"):
        logging.config.dictConfig(DICT_CONFIG)
    elif SHAPE == "fileConfig":
        path = os.path.join(tempfile.mkdtemp(), "logging.ini")
        with open(path, "w") as ini:
            ini.write(FILE_CONFIG)
        logging.config.fileConfig(path)
    elif SHAPE == "basicConfig-force":
        logging.basicConfig(force=True, format=FORMAT, level=logging.INFO, stream=sys.stderr)
        logging.root.handlers[0].addFilter(logging.Filter("app"))
    elif SHAPE == "root-handlers":
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter(FORMAT))
        handler.addFilter(logging.Filter("app"))
        logging.root.handlers = [handler]
        logging.root.setLevel(logging.INFO)


def create_app():
    reconfigure()


if SHAPE == "dictConfig-in-factory":
    create_app()
else:
    reconfigure()
views, other = logging.getLogger("app.views"), logging.getLogger("other")
with trace.get_tracer("t").start_as_current_span("GET /x", kind=trace.SpanKind.SERVER) as span:
    ids = span.get_span_context()
    print("IDS", format(ids.trace_id, "032x"), format(ids.span_id, "016x"))
    for number in range(3):
        views.info("app %d", number, extra={{"n": number}})
    other.warning("from other", extra={{"n": 99}})
    views.debug("below the application's level")
logging.getLogger("tl_otel").warning("tl-otel's own logger still speaks")
"""

SHAPES = ["dictConfig", "dictConfig-in-factory", "fileConfig", "basicConfig-force", "root-handlers"]
CONFIGURE = "import tl_otel; tl_otel.configure(service_name='svc')"


@pytest.mark.parametrize("launcher", [True, False], ids=["launcher", "configure"])
@pytest.mark.parametrize("shape", SHAPES)
def test_every_record_arrives_once_and_the_apps_handlers_work_as_configured(python, shape, launcher):
    code = APP.format(configure="" if launcher else CONFIGURE, shape=shape)
    ran = python(code, launcher=launcher, OTEL_SERVICE_NAME="svc")
    assert ran.returncode == 0, ran.stderr
    trace_id, span_id = next(x for x in ran.stdout.splitlines() if x.startswith("IDS")).split()[1:]
    logs = [record for record in ran.json_lines() if record["type"] == "log"]
    assert sorted((r["message"], r["n"]) for r in logs) == [
        ("app 0", 0), ("app 1", 1), ("app 2", 2), ("from other", 99)]  # each exactly once, the first included
    assert all(r["trace_id"] == trace_id and r["span_id"] == span_id for r in logs)
    app_lines = [line for line in ran.stderr.splitlines() if line.startswith("APP ")]
    expected = ["APP INFO app.views app 0", "APP INFO app.views app 1", "APP INFO app.views app 2"]
    if shape == "fileConfig":  # fileConfig has no filters
        expected.append("APP WARNING other from other")
    assert app_lines == expected
    warnings = [line for line in ran.stderr.splitlines() if "re-attached its handler" in line]
    assert len(warnings) == 1 and "StreamHandler(<stderr>)" in warnings[0], ran.stderr
    assert "tl-otel: WARNING: tl-otel's own logger still speaks" in ran.stderr


def test_logging_false_is_hands_off(python):
    ran = python(APP.format(configure="", shape="dictConfig") + """
assert logging.Logger.callHandlers.__module__ == "logging", logging.Logger.callHandlers
assert [type(h).__name__ for h in logging.root.handlers] == ["StreamHandler"], logging.root.handlers
""", launcher=True, TL_OTEL_LOGGING="false")
    assert ran.returncode == 0, ran.stderr
    assert [r for r in ran.json_lines() if r["type"] == "log"] == []
    assert "re-attached" not in ran.stderr
    assert [line for line in ran.stderr.splitlines() if line.startswith("APP ")] == [
        "APP INFO app.views app 0", "APP INFO app.views app 1", "APP INFO app.views app 2"]
