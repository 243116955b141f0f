"""The settings registry: precedence, bad values, strict mode and secrets (in-process, dict env)."""

from __future__ import annotations

import pytest

from tl_otel.settings import SETTINGS, resolve
from tl_otel.settings.sdk_env import unset_invalid_sdk_variables


def tier(variable: str) -> int:
    if variable.startswith("TL_OTEL_"):
        return 0
    if variable.startswith(("POSTHOG_", "SCOUT_")):
        return 1
    assert variable.startswith("OTEL_"), variable
    return 2


@pytest.mark.parametrize("setting", SETTINGS, ids=lambda s: s.name)
def test_every_setting_lists_its_variables_in_precedence_order(setting):
    tiers = [tier(variable) for variable in setting.env]
    assert tiers == sorted(tiers)
    assert setting.doc and setting.env


def test_precedence_argument_then_tl_otel_then_vendor_then_otel_then_default():
    env = {"TL_OTEL_SERVICE_NAME": "from-tl", "OTEL_SERVICE_NAME": "from-otel"}
    assert resolve({"service_name": "from-arg"}, env).service_name == "from-arg"
    assert resolve({}, env).service_name == "from-tl"
    assert resolve({}, {"OTEL_SERVICE_NAME": "from-otel"}).service_name == "from-otel"
    assert resolve({}, {}).service_name is None

    env = {"TL_OTEL_POSTHOG_HOST": "https://tl.example", "POSTHOG_HOST": "https://ph.example"}
    assert resolve({}, env).posthog_host == "https://tl.example"
    assert resolve({}, {"POSTHOG_HOST": "https://ph.example"}).posthog_host == "https://ph.example"
    assert resolve({}, {}).posthog_host == "https://app.posthog.com"

    env = {"TL_OTEL_SPAN_QUEUE_SIZE": "100", "OTEL_BSP_MAX_QUEUE_SIZE": "200"}
    settings = resolve({}, env)
    assert settings.span_queue_size == 100
    assert settings.source("span_queue_size") == "TL_OTEL_SPAN_QUEUE_SIZE"


def test_empty_value_counts_as_unset():
    settings = resolve({}, {"TL_OTEL_SERVICE_NAME": "  ", "OTEL_SERVICE_NAME": "svc"})
    assert settings.service_name == "svc"
    assert not settings.problems


@pytest.mark.parametrize(
    ("variable", "raw", "setting", "default"),
    [
        ("OTEL_BSP_MAX_QUEUE_SIZE", "abc", "span_queue_size", 2048),
        ("OTEL_BSP_MAX_QUEUE_SIZE", "0", "span_queue_size", 2048),
        ("OTEL_BSP_MAX_QUEUE_SIZE", "-1", "span_queue_size", 2048),
        ("OTEL_BSP_MAX_QUEUE_SIZE", "1.5", "span_queue_size", 2048),
        ("OTEL_BSP_MAX_QUEUE_SIZE", str(2**31), "span_queue_size", 2048),
        ("OTEL_BLRP_MAX_EXPORT_BATCH_SIZE", "x", "log_batch_size", 512),
        ("OTEL_BSP_SCHEDULE_DELAY", "-5", "span_schedule_delay", 1.0),
        ("OTEL_BSP_EXPORT_TIMEOUT", "-5", "span_export_timeout", 30.0),
        ("OTEL_METRIC_EXPORT_INTERVAL", "0", "metric_export_interval", 60.0),
        ("OTEL_METRIC_EXPORT_TIMEOUT", "-1", "metric_export_timeout", 30.0),
        ("OTEL_TRACES_SAMPLER", "sometimes", "traces_sampler", "parentbased_always_on"),
        ("OTEL_TRACES_SAMPLER_ARG", "2", "traces_sampler_arg", 1.0),
        ("TL_OTEL_LOG_LEVEL", "verbose", "log_level", "info"),
        ("TL_OTEL_SHUTDOWN_TIMEOUT", "soon", "shutdown_timeout", 10.0),
        ("TL_OTEL_SHUTDOWN_TIMEOUT", "-3", "shutdown_timeout", 10.0),
        ("TL_OTEL_STRICT", "maybe", "strict", False),
        ("OTEL_TRACES_EXPORTER", "json,none", "traces_exporter", None),
        ("OTEL_LOGS_EXPORTER", "json;otlp", "logs_exporter", None),
    ],
)
def test_bad_value_gives_one_problem_naming_variable_value_and_accepted(variable, raw, setting, default):
    settings = resolve({}, {variable: raw})
    assert getattr(settings, setting) == default
    assert len(settings.problems) == 1
    message = settings.problems[0].message
    assert variable in message and repr(raw) in message and "expected" in message
    assert repr(default) in message


def test_zero_is_a_valid_timeout_meaning_no_limit():
    settings = resolve({}, {"OTEL_BSP_EXPORT_TIMEOUT": "0", "OTEL_BSP_SCHEDULE_DELAY": "0"})
    assert settings.span_export_timeout == 0 and settings.span_schedule_delay == 0
    assert not settings.problems


def test_batch_size_larger_than_queue_falls_back_within_the_queue():
    settings = resolve({}, {"OTEL_BSP_MAX_QUEUE_SIZE": "100", "OTEL_BSP_MAX_EXPORT_BATCH_SIZE": "4096"})
    assert settings.span_queue_size == 100
    assert settings.span_batch_size == 100
    [problem] = settings.problems
    assert "OTEL_BSP_MAX_EXPORT_BATCH_SIZE" in problem.message and "queue size 100" in problem.message


def test_bad_configure_argument_is_reported_like_a_variable():
    settings = resolve({"shutdown_timeout": -1}, {})
    assert settings.shutdown_timeout == 10.0
    assert "configure(shutdown_timeout=...)" in settings.problems[0].message


def test_unknown_configure_argument_is_a_type_error():
    with pytest.raises(TypeError, match="unknown tl-otel setting"):
        resolve({"servce_name": "typo"}, {})


def test_secrets_are_masked_wherever_settings_are_shown():
    settings = resolve({}, {"POSTHOG_API_KEY": "phc_supersecretvalue", "SCOUT_KEY": "scoutsecret12345678"})
    assert settings.posthog_api_key == "phc_supersecretvalue"
    shown = repr(settings) + str(settings.display())
    assert "phc_supersecretvalue" not in shown and "scoutsecret12345678" not in shown
    assert "<secret, 20 chars>" in shown


def test_scout_monitor_is_read_the_way_scout_reads_it():
    for raw, expected in [("true", True), ("YES", True), ("t", True), ("1", True), ("false", False),
                          ("no", False), ("whatever", False)]:
        assert resolve({}, {"SCOUT_MONITOR": raw}).scout_monitor is expected
    assert resolve({}, {}).scout_monitor is True  # the seed reads it as true when unset


def test_invalid_sdk_variables_are_removed_so_the_sdk_uses_its_default():
    env = {"OTEL_BSP_MAX_QUEUE_SIZE": "0", "OTEL_BSP_EXPORT_TIMEOUT": "100", "TL_OTEL_LOG_LEVEL": "loud"}
    settings = resolve({}, env)
    removed = unset_invalid_sdk_variables(settings.problems, env)
    assert removed == ["OTEL_BSP_MAX_QUEUE_SIZE"]
    assert env == {"OTEL_BSP_EXPORT_TIMEOUT": "100", "TL_OTEL_LOG_LEVEL": "loud"}


@pytest.mark.parametrize("env", [{"SCOUT_MONITOR": "true"}, {"SCOUT_MONITOR": "true", "SCOUT_KEY": ""},
                                 {"TL_OTEL_SCOUT_MONITOR": "yes", "SCOUT_KEY": "  "}])
def test_scout_monitoring_asked_for_without_a_key_is_said_once(env):
    (problem,) = resolve({}, env).problems
    assert "SCOUT_MONITOR" in problem.message and "SCOUT_KEY is not set" in problem.message


def test_scout_monitor_with_a_key_or_left_at_its_default_says_nothing():
    assert not resolve({}, {"SCOUT_MONITOR": "true", "SCOUT_KEY": "k"}).problems
    assert not resolve({}, {}).problems
    assert not resolve({}, {"SCOUT_MONITOR": "false"}).problems


def test_scout_monitor_without_a_key_warns_once_at_start_up(python):
    ran = python("import tl_otel; tl_otel.configure(instrument=False)", SCOUT_MONITOR="true")
    said = [line for line in ran.stderr.splitlines() if '"WARNING"' in line]
    assert len(said) == 1 and "SCOUT_KEY" in said[0], ran.stderr
