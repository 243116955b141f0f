"""Which exporters each signal gets (in-process) and what the launcher does with the choice."""

from __future__ import annotations

from tl_otel.settings import resolve
from tl_otel.startup.exporter_selection import entry_point_name, load_exporters, selected_exporters


def chosen(signal: str, env: dict[str, str]) -> tuple[str, ...]:
    return selected_exporters(signal, resolve({}, env))


def test_defaults_follow_the_seed_variables():
    assert chosen("traces", {}) == ("json",)
    assert chosen("traces", {"POSTHOG_API_KEY": "phc_x"}) == ("json", "posthog")
    # Scout's Error Monitoring comes with Scout, as scout_apm's errors_enabled does, unless turned off.
    assert chosen("traces", {"SCOUT_KEY": "k"}) == ("json", "scout", "scout_errors")
    assert chosen("traces", {"SCOUT_KEY": "k", "SCOUT_ERRORS_ENABLED": "false"}) == ("json", "scout")
    assert chosen("traces", {"SCOUT_KEY": "k", "SCOUT_MONITOR": "false"}) == ("json",)
    assert chosen("traces", {"POSTHOG_API_KEY": "p", "SCOUT_KEY": "k"}) == ("json", "posthog", "scout",
                                                                          "scout_errors")
    assert chosen("logs", {"POSTHOG_API_KEY": "phc_x"}) == ("json",)  # PostHog logs only when asked for
    assert chosen("metrics", {}) == ("json",)


def test_an_explicit_list_is_used_exactly_as_given():
    env = {"POSTHOG_API_KEY": "p", "SCOUT_KEY": "k", "OTEL_TRACES_EXPORTER": "otlp, console"}
    assert chosen("traces", env) == ("otlp", "console")
    assert chosen("traces", {"OTEL_TRACES_EXPORTER": "none", "POSTHOG_API_KEY": "p"}) == ()
    assert chosen("logs", {"OTEL_LOGS_EXPORTER": "json,posthog"}) == ("json", "posthog")


def test_otlp_means_http_protobuf_unless_the_protocol_says_grpc():
    assert entry_point_name("otlp", "traces", {}) == "otlp_proto_http"
    assert entry_point_name("otlp", "logs", {"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}) == "otlp_proto_grpc"
    assert entry_point_name("otlp", "traces", {"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "grpc",
                                               "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"}) == "otlp_proto_grpc"
    assert entry_point_name("json", "traces", {}) == "json"


def test_an_unknown_exporter_is_skipped_with_a_message_naming_the_variable_and_the_choices():
    result = load_exporters("traces", ("json", "nosuch"), resolve({}, {"OTEL_TRACES_EXPORTER": "json,nosuch"}))
    assert [name for name, _ in result.exporters] == ["json"]
    [problem] = result.problems
    assert "OTEL_TRACES_EXPORTER" in problem and "'nosuch'" in problem and "json" in problem


def test_a_default_choice_that_is_not_installed_says_which_setting_chose_it():
    settings = resolve({}, {"POSTHOG_API_KEY": "phc_x"})
    result = load_exporters("traces", ("json", "not_installed_here"), settings)
    [problem] = result.problems
    assert problem.startswith("it is a default, so tl-otel selected the 'not_installed_here' traces exporter")
