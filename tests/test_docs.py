"""docs/ stays true to the code."""

from __future__ import annotations

import inspect
import re

from tests.conftest import REPO
from tl_otel import configure
from tl_otel.settings import BY_NAME
from tl_otel.settings.reference import render_markdown


def test_configuration_reference_matches_the_registry():
    committed = (REPO / "docs" / "configuration.md").read_text()
    assert committed == render_markdown(), "regenerate: python -m tl_otel.settings.reference > docs/configuration.md"


def test_every_configure_argument_is_a_registry_setting():
    parameters = set(inspect.signature(configure).parameters) - {"settings", "env", "instrument"}
    assert parameters <= set(BY_NAME)


def test_every_variable_named_in_the_docs_exists_in_the_registry_or_the_sdk():
    known = {variable for setting in BY_NAME.values() for variable in setting.env}
    sdk_variables = {"OTEL_RESOURCE_ATTRIBUTES", "OTEL_PYTHON_DISTRO", "OTEL_PYTHON_CONFIGURATOR",
                     "OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_EXPORTER_OTLP_ENDPOINT",
                     "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS",
                     "OTEL_SEMCONV_STABILITY_OPT_IN", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
                     "OTEL_EXPORTER_OTLP_LOGS_PROTOCOL", "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL",
                     "OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT", "OTEL_EXPORTER_OTLP_TIMEOUT"}
    # Read by scout_apm itself (its manager and path filter), which tl-otel calls.
    scout_apm_variables = {"SCOUT_CORE_AGENT_DOWNLOAD", "SCOUT_URI_REPORTING", "SCOUT_CORE_AGENT_DIR"}
    # Read by upstream instrumentations that opentelemetry-bootstrap installs (docs/getting-started.md).
    instrumentation_variables = {"OTEL_PYTHON_LOG_AUTO_INSTRUMENTATION", "OTEL_PYTHON_LOG_CORRELATION"}
    example_variables = {"DATABASE_URL", "CELERY_BROKER_URL", "REDIS_URL", "ENGINE_API_URL", "ENGINE_DATA_DIR"}
    for page in [*(REPO / "docs").glob("*.md"), REPO / "README.md"]:
        for variable in re.findall(r"\b((?:TL_OTEL|OTEL|POSTHOG|SCOUT)_[A-Z_]+)\b", page.read_text()):
            if variable.endswith("_"):
                continue
            allowed = known | sdk_variables | example_variables | scout_apm_variables | instrumentation_variables
            assert variable in allowed, f"{page.name} names unknown {variable}"


def test_readme_numbers_its_using_it_steps_in_order():
    readme = (REPO / "README.md").read_text()
    section = readme.split("## Using it", 1)[1].split("\n## ", 1)[0]
    steps = [int(number) for number in re.findall(r"^# (\d+)\. ", section, re.MULTILINE)]
    assert steps == list(range(1, len(steps) + 1)) and len(steps) >= 3, steps


def test_getting_started_installs_and_launches_the_readers_app():
    page = (REPO / "docs" / "getting-started.md").read_text()
    install = page.split("## Install", 1)[1].split("\n## ", 1)[0]
    # Not on the package index yet: the page says so and gives commands that work today (from a clone, or a
    # wheel built in one step), not the index's.
    assert "not on the package index yet" in install
    from_clone = r'^```\w+\ngit clone .*\npip install "\./tl-otel\[fastapi,celery\]"\n```'
    assert re.search(from_clone, install, re.MULTILINE), install
    assert re.search(r"^pip wheel --no-deps --wheel-dir dist \./tl-otel$", install, re.MULTILINE), install
    assert "engine.api:app" not in page and "engine.worker" not in page  # tl-otel's example, not the reader's app
    assert "opentelemetry-instrument uvicorn myapp.main:app" in page
    assert "configure(service_name=" in page and "OTEL_SERVICE_NAME" in page
