"""The logging bridge survives the application's own logging configuration, made after tl-otel configured:
every record arrives exactly once as a JSON line (trace ids, extras), the application's handlers keep their
format, level and filters (and its root holds exactly the handlers it set), tl-otel's own logger is not
disabled, and TL_OTEL_LOGGING=false is hands off."""

from __future__ import annotations

import json

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
    elif SHAPE.startswith("basicConfig"):
        logging.basicConfig(force=SHAPE.endswith("force"), format=FORMAT, level=logging.INFO, stream=sys.stderr)
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
assert [type(h).__name__ for h in logging.root.handlers] == ["StreamHandler"], logging.root.handlers
"""

SHAPES = ["dictConfig", "dictConfig-in-factory", "fileConfig", "basicConfig", "basicConfig-force", "root-handlers"]
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
    own = [json.loads(line) for line in ran.stderr.splitlines() if line.startswith("{")]
    assert {"level": "WARNING", "logger": "tl_otel", "message": "tl-otel's own logger still speaks"}.items() <= next(
        line for line in own if line["message"] == "tl-otel's own logger still speaks").items()


def test_logging_false_is_hands_off(python):
    ran = python(APP.format(configure="", shape="dictConfig") + """
assert logging.Logger.callHandlers.__module__ == "logging", logging.Logger.callHandlers
""", launcher=True, TL_OTEL_LOGGING="false")
    assert ran.returncode == 0, ran.stderr
    assert [r for r in ran.json_lines() if r["type"] == "log"] == []
    assert [line for line in ran.stderr.splitlines() if line.startswith("APP ")] == [
        "APP INFO app.views app 0", "APP INFO app.views app 1", "APP INFO app.views app 2"]


LEVELS_APP = """
import logging, logging.config, sys
{before}
log = logging.getLogger("app")
log.info("info while the root is at Python's default")
log.warning("warning while the root is at Python's default")
{after}
log.debug("debug after the application set its level")
log.info("info after the application set its level")
log.warning("warning after the application set its level")
"""
BASIC = "logging.basicConfig(stream=sys.stderr, format='APP %(levelname)s %(message)s')"


@pytest.mark.parametrize("app_level", ["WARNING", "DEBUG"])
def test_the_roots_level_is_the_applications_and_tl_otel_log_level_filters_what_tl_otel_exports(python, app_level):
    # The application prints warnings with basicConfig (root left at Python's default), then sets its root level.
    ran = python(LEVELS_APP.format(before=BASIC, after=f"logging.getLogger().setLevel(logging.{app_level})"),
                 launcher=True)
    assert ran.returncode == 0, ran.stderr
    exported = [r["message"] for r in ran.json_lines() if r["type"] == "log"]
    printed = [line for line in ran.stderr.splitlines() if line.startswith("APP ")]
    # Python's default: tl-otel lowers the root to TL_OTEL_LOG_LEVEL (INFO) for itself only; the app's
    # handler prints what it printed without tl-otel.
    assert exported[:2] == ["info while the root is at Python's default",
                            "warning while the root is at Python's default"]
    assert printed[:1] == ["APP WARNING warning while the root is at Python's default"]
    if app_level == "WARNING":  # the application's deliberate WARNING: INFO records are never made
        assert exported[2:] == ["warning after the application set its level"]
        assert printed[1:] == ["APP WARNING warning after the application set its level"]
    else:  # below TL_OTEL_LOG_LEVEL: the app's handler prints DEBUG, tl-otel exports from INFO up
        assert exported[2:] == ["info after the application set its level",
                                "warning after the application set its level"]
        assert printed[1:] == ["APP DEBUG debug after the application set its level",
                               "APP INFO info after the application set its level",
                               "APP WARNING warning after the application set its level"]


def test_tl_otel_log_level_above_the_apps_level(python):
    ran = python(LEVELS_APP.format(before="import tl_otel; tl_otel.configure()\n" + BASIC,
                                   after="logging.getLogger().setLevel(logging.INFO)"),
                 TL_OTEL_LOG_LEVEL="warning")
    assert ran.returncode == 0, ran.stderr
    assert [r["message"] for r in ran.json_lines() if r["type"] == "log"] == [
        "warning while the root is at Python's default", "warning after the application set its level"]
    assert [line for line in ran.stderr.splitlines() if line.startswith("APP ")] == [
        "APP WARNING warning while the root is at Python's default",
        "APP INFO info after the application set its level",
        "APP WARNING warning after the application set its level"]
