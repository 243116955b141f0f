"""The one list of tl-otel's settings: name, environment variables (highest precedence first),
type, default, secrecy and the doc line that docs/configuration.md is generated from."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tl_otel.settings.types import (
    LOG_LEVELS,
    Choice,
    Endpoint,
    IntRange,
    Milliseconds,
    Parser,
    Seconds,
    parse_bool,
    parse_event_rules,
    parse_exporter_list,
    parse_free_space,
    parse_name_list,
    parse_patterns,
    parse_ratio,
    parse_str,
)


@dataclass(frozen=True)
class Setting:
    name: str
    parse: Parser
    default: Any
    doc: str
    env: tuple[str, ...]
    secret: bool = False
    group: str = "general"
    default_doc: str | None = None  # how the default is shown in docs when it is computed


def _parse_scout_bool(raw: Any) -> bool:
    # Scout's own agent reads yes/true/t/1 (any case) as true and everything else as false;
    # the seed's variable must keep that meaning.
    if isinstance(raw, bool):
        return raw
    return str(raw).strip().lower() in ("yes", "true", "t", "1")


_SAMPLERS = (
    "always_on",
    "always_off",
    "parentbased_always_on",
    "parentbased_always_off",
    "traceidratio",
    "parentbased_traceidratio",
)

SETTINGS: tuple[Setting, ...] = (
    # --- identity -------------------------------------------------------------------------
    Setting("service_name", parse_str, None,
            "Service name (resource `service.name`), e.g. tl-engine-api.",
            ("TL_OTEL_SERVICE_NAME", "OTEL_SERVICE_NAME"),
            default_doc="`unknown_service` (or `service.name` from OTEL_RESOURCE_ATTRIBUTES)"),
    Setting("environment", parse_str, None,
            "Deployment environment (resource `deployment.environment.name`).",
            ("TL_OTEL_ENVIRONMENT",)),
    Setting("strict", parse_bool, False,
            "Stop start-up on a bad setting instead of warning and using the default.",
            ("TL_OTEL_STRICT",)),
    # --- exporter selection ---------------------------------------------------------------
    Setting("traces_exporter", parse_exporter_list, None,
            "Span exporters by entry-point name (json, posthog, scout, otlp, console, none). "
            "An explicit list is used exactly as given.",
            ("OTEL_TRACES_EXPORTER",), group="exporters",
            default_doc="`json`, plus `posthog` when POSTHOG_API_KEY is set, plus `scout` when SCOUT_KEY "
                        "is set and SCOUT_MONITOR is not false"),
    Setting("logs_exporter", parse_exporter_list, None,
            "Log record exporters (json, posthog, otlp, console, none).",
            ("OTEL_LOGS_EXPORTER",), group="exporters", default_doc="`json`"),
    Setting("metrics_exporter", parse_exporter_list, None,
            "Metric exporters (json, otlp, console, none).",
            ("OTEL_METRICS_EXPORTER",), group="exporters", default_doc="`json`"),
    Setting("otlp_endpoint", Endpoint("url"), None,
            "OTLP/HTTP collector base URL, as the OTLP exporters read it; `tl-otel doctor` checks this one. "
            "A value that is not a URL is refused: nothing is sent to a default collector instead.",
            ("OTEL_EXPORTER_OTLP_ENDPOINT",), group="exporters", default_doc="the OTLP exporters' own "
            "(`http://localhost:4318`) when unset"),
    # --- backends named by the seed -------------------------------------------------------
    Setting("posthog_api_key", parse_str, None, "PostHog project API key; enables the posthog exporter.",
            ("TL_OTEL_POSTHOG_API_KEY", "POSTHOG_API_KEY"), secret=True, group="posthog"),
    Setting("posthog_host", Endpoint("url"), "https://app.posthog.com", "PostHog host.",
            ("TL_OTEL_POSTHOG_HOST", "POSTHOG_HOST"), group="posthog"),
    Setting("posthog_personal_api_key", parse_str, None,
            "Personal API key for `tl-otel dashboard posthog` (PostHog's REST API; not used to send events).",
            ("TL_OTEL_POSTHOG_PERSONAL_API_KEY", "POSTHOG_PERSONAL_API_KEY"), secret=True, group="posthog"),
    Setting("posthog_project_id", parse_str, None, "PostHog project id for `tl-otel dashboard posthog`.",
            ("TL_OTEL_POSTHOG_PROJECT_ID", "POSTHOG_PROJECT_ID"), group="posthog"),
    Setting("posthog_api_host", Endpoint("url"), None,
            "PostHog's app host for the REST API when it differs from the capture host (us.posthog.com for "
            "us.i.posthog.com).", ("TL_OTEL_POSTHOG_API_HOST",), group="posthog", default_doc="POSTHOG_HOST"),
    Setting("posthog_timeout", Seconds(0.1, 120.0), 10.0, "Timeout of one request to PostHog.",
            ("TL_OTEL_POSTHOG_TIMEOUT",), group="posthog"),
    Setting("posthog_retry_window", Seconds(0.0, 3600.0), 120.0,
            "How long one batch is retried (backoff 1 s doubling to 30 s, with jitter; Retry-After honoured) "
            "before it is dropped and counted.",
            ("TL_OTEL_POSTHOG_RETRY_WINDOW",), group="posthog"),
    Setting("posthog_gzip", parse_bool, True, "Compress request bodies sent to PostHog.",
            ("TL_OTEL_POSTHOG_GZIP",), group="posthog"),
    Setting("posthog_api_request_sample_rate", parse_ratio, 1.0,
            "Share of successful `api_request` events sent (by trace id, so one trace is all in or all out); "
            "failed requests and `$exception` are always sent.",
            ("TL_OTEL_POSTHOG_API_REQUEST_SAMPLE_RATE",), group="posthog"),
    Setting("posthog_excluded_routes", parse_name_list,
            ("/health", "/healthz", "/livez", "/readyz", "/ready", "/metrics"),
            "Routes (globs) that never produce `api_request` events; they stay Scout requests and count in the "
            "alert rules (see TL_OTEL_LONG_LIVED_ROUTES for routes that are not requests at all).",
            ("TL_OTEL_POSTHOG_EXCLUDED_ROUTES",), group="posthog",
            default_doc="`/health,/healthz,/livez,/readyz,/ready,/metrics`"),
    Setting("posthog_distinct_id_attributes", parse_name_list,
            ("enduser.id", "user.id", "posthog.distinct_id", "posthogDistinctId"),
            "Span attributes read, in order, for an event's `distinct_id`; without one the event is the "
            "service's own (`service:<service.name>`, `$process_person_profile: false`).",
            ("TL_OTEL_POSTHOG_DISTINCT_ID_ATTRIBUTES",), group="posthog",
            default_doc="`enduser.id,user.id,posthog.distinct_id,posthogDistinctId`"),
    Setting("posthog_events", parse_event_rules, (),
            "Your own span → event rules (JSON list), added to the built-in ones; see docs/posthog.md.",
            ("TL_OTEL_POSTHOG_EVENTS",), group="posthog", default_doc="none"),
    Setting("scout_key", parse_str, None, "Scout APM organisation key; enables the scout exporter.",
            ("TL_OTEL_SCOUT_KEY", "SCOUT_KEY"), secret=True, group="scout"),
    Setting("scout_monitor", _parse_scout_bool, True,
            "Scout monitoring on/off, read as Scout reads it (yes/true/t/1 is true, anything else false).",
            ("TL_OTEL_SCOUT_MONITOR", "SCOUT_MONITOR"), group="scout"),
    Setting("scout_name", parse_str, "Python App", "Application name shown in Scout (Register `app`).",
            ("TL_OTEL_SCOUT_NAME", "SCOUT_NAME"), group="scout"),
    Setting("scout_socket_path", Endpoint("socket"), "tcp://127.0.0.1:6590",
            "Core agent address: `tcp://host:port` or a Unix socket path (SCOUT_SOCKET_PATH is Scout's deprecated "
            "alias, which wins when set, as in Scout).",
            ("TL_OTEL_SCOUT_SOCKET_PATH", "SCOUT_SOCKET_PATH", "SCOUT_CORE_AGENT_SOCKET_PATH"), group="scout"),
    Setting("scout_hostname", parse_str, None, "Host name sent to Scout (Register `host`; null when unset).",
            ("TL_OTEL_SCOUT_HOSTNAME", "SCOUT_HOSTNAME"), group="scout"),
    Setting("scout_core_agent_launch", _parse_scout_bool, True,
            "Download (SCOUT_CORE_AGENT_DOWNLOAD) and start the core agent through scout_apm's manager when it is "
            "not reachable; done on the exporter's thread, never at application start-up.",
            ("TL_OTEL_SCOUT_CORE_AGENT_LAUNCH", "SCOUT_CORE_AGENT_LAUNCH"), group="scout"),
    Setting("scout_timeout", Seconds(0.1, 60.0), 3.0,
            "Connect timeout, and how long a reply from the core agent is awaited (Scout's agent: 3 s).",
            ("TL_OTEL_SCOUT_TIMEOUT",), group="scout"),
    Setting("scout_queue_size", IntRange(1, 1_000_000), 500,
            "Requests (BatchCommand frames) waiting for the core agent (Scout's agent: 500 frames); CPU/memory "
            "events do not take slots; overflow is dropped and counted.",
            ("TL_OTEL_SCOUT_QUEUE_SIZE",), group="scout"),
    Setting("scout_assembly_window", Seconds(0.1, 3600.0), 30.0,
            "How long a span waits for its request's root span before it is dropped and counted.",
            ("TL_OTEL_SCOUT_ASSEMBLY_WINDOW",), group="scout"),
    Setting("scout_max_buffered_spans", IntRange(100, 10_000_000), 20_000,
            "Most spans waiting for their request's root span; the oldest are dropped and counted.",
            ("TL_OTEL_SCOUT_MAX_BUFFERED_SPANS",), group="scout"),
    Setting("scout_allocations", parse_bool, False,
            "Allocation counts per span for Scout (`allocations`, `start_allocations`, `stop_allocations`) "
            "from scout_apm's _objtrace extension, which counts every allocation of the whole process "
            "(docs/scout.md: cost and why it is off by default).",
            ("TL_OTEL_SCOUT_ALLOCATIONS",), group="scout"),
    # --- logging bridge and JSON lines ----------------------------------------------------
    Setting("logging", parse_bool, True, "Bridge stdlib logging into OpenTelemetry log records.",
            ("TL_OTEL_LOGGING",), group="logs"),
    Setting("log_level", Choice(LOG_LEVELS), "info",
            "Lowest level tl-otel exports from stdlib logging. The root logger's level stays the application's: "
            "left at Python's default (WARNING; always so under the launcher), it is lowered to this level for "
            "tl-otel only (the application's handlers print what they printed); a root level the application "
            "sets (setLevel, dictConfig/fileConfig, basicConfig(level=)) is kept, and records below it are not "
            "made, so not exported. Loggers that do not propagate to the root (uvicorn.error, gunicorn.error) "
            "give their records at WARNING and above.",
            ("TL_OTEL_LOG_LEVEL",), group="logs"),
    Setting("json_stderr_level", Choice((*LOG_LEVELS, "off")), "off",
            "JSON lines at this level and above go to stderr instead of stdout (off: everything to stdout).",
            ("TL_OTEL_JSON_STDERR_LEVEL",), group="logs"),
    Setting("json_all_spans", parse_bool, False,
            "Give every sampled span a JSON line (internal spans, every SQL query), so `tl-otel tail` shows whole "
            "trees. For development: off, only spans worth a line get one (docs/json-lines.md).",
            ("TL_OTEL_JSON_ALL_SPANS",), group="logs"),
    Setting("json_max_value_length", IntRange(64, 10_000_000), 16384,
            "Longest string value written in a JSON line; longer ones are cut and marked.",
            ("TL_OTEL_JSON_MAX_VALUE_LENGTH",), group="logs"),
    Setting("attribute_value_length_limit", IntRange(64, 100_000_000), 16384,
            "Longest string kept in a span or event attribute; longer ones are cut by the SDK (the SDK alone "
            "keeps a 5 MB attribute whole, and every exporter then carries it).",
            ("TL_OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT", "OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT",
             "OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT"), group="pipeline"),
    Setting("long_lived_routes", parse_name_list, (),
            "Routes (globs of route templates, e.g. `/events/stream,/poll/*`) that are long polls or streams: "
            "like WebSocket sessions, they are not requests (no `api_request`, no Scout request, not in the "
            "latency or error-rate alerts), while their exceptions still give `$exception` and ERROR JSON lines. "
            "TL_OTEL_POSTHOG_EXCLUDED_ROUTES only drops the `api_request` event.",
            ("TL_OTEL_LONG_LIVED_ROUTES",), group="instrumentation"),
    Setting("asgi_message_spans", parse_bool, False,
            "Keep the per-message `http send`/`http receive` spans of the ASGI instrumentation "
            "(off: they are not created, which saves several microseconds per request).",
            ("TL_OTEL_ASGI_MESSAGE_SPANS",), group="instrumentation"),
    # --- redaction ------------------------------------------------------------------------
    Setting("redact", parse_bool, True,
            "Redact secrets before any destination sees an item (see docs/security.md). Turn off only to debug "
            "redaction itself.",
            ("TL_OTEL_REDACT",), group="redaction"),
    Setting("redact_keys", parse_name_list, (),
            "More attribute, log-field, header and query-parameter names whose values are replaced (comma list; "
            "matched case-insensitively on the whole name or its last segments).",
            ("TL_OTEL_REDACT_KEYS",), group="redaction", default_doc="none"),
    Setting("redact_patterns", parse_patterns, (),
            "More regular expressions whose matches are replaced wherever they appear.",
            ("TL_OTEL_REDACT_PATTERNS",), group="redaction", default_doc="none"),
    Setting("redact_replace_defaults", parse_bool, False,
            "Use only TL_OTEL_REDACT_KEYS / TL_OTEL_REDACT_PATTERNS instead of adding them to the built-in "
            "lists (URL userinfo and the configured secrets are always redacted).",
            ("TL_OTEL_REDACT_REPLACE_DEFAULTS",), group="redaction"),
    Setting("startup_line", parse_bool, True,
            "One INFO JSON line on stderr once tl-otel is configured (version, service, destinations, "
            "instrumentations).", ("TL_OTEL_STARTUP_LINE",), group="lifecycle"),
    Setting("self_metrics", parse_bool, True,
            "Export tl-otel's own queue, export and loss counters as `otel.sdk.*` metrics (docs/operations.md).",
            ("TL_OTEL_SELF_METRICS",), group="lifecycle"),
    Setting("json_self_metrics", parse_bool, False,
            "Also write tl-otel's own metrics as JSON lines (off: they go to OTLP metric exporters only).",
            ("TL_OTEL_JSON_SELF_METRICS",), group="lifecycle"),
    # --- lifecycle ------------------------------------------------------------------------
    Setting("shutdown_timeout", Seconds(0.1, 300.0), 10.0,
            "One deadline shared by every provider, pipeline and exporter at shutdown or flush.",
            ("TL_OTEL_SHUTDOWN_TIMEOUT",), group="lifecycle"),
    Setting("handle_sigterm", parse_bool, True,
            "Flush and shut down on SIGTERM (then let the signal end the process as before). Only "
            "installed when the process still has the default SIGTERM disposition.",
            ("TL_OTEL_HANDLE_SIGTERM",), group="lifecycle"),
    Setting("celery_flush_timeout", Seconds(0.1, 60.0), 2.0,
            "Bound on the flush a Celery prefork child does before it exits through os._exit.",
            ("TL_OTEL_CELERY_FLUSH_TIMEOUT",), group="lifecycle"),
    # --- span pipeline (standard OTEL_BSP_* meaning) --------------------------------------
    Setting("span_queue_size", IntRange(1), 2048, "Capacity of the span queue; overflow is dropped and counted.",
            ("TL_OTEL_SPAN_QUEUE_SIZE", "OTEL_BSP_MAX_QUEUE_SIZE"), group="pipeline"),
    Setting("span_batch_size", IntRange(1), 512, "Most spans handed to an exporter at once (≤ queue size).",
            ("TL_OTEL_SPAN_BATCH_SIZE", "OTEL_BSP_MAX_EXPORT_BATCH_SIZE"), group="pipeline"),
    Setting("span_schedule_delay", Milliseconds(allow_zero=True), 1.0,
            "Longest wait before queued spans are exported, in ms (the spec's default is 5000; tl-otel uses "
            "1000 so JSON lines keep pace with logs).",
            ("TL_OTEL_SPAN_SCHEDULE_DELAY", "OTEL_BSP_SCHEDULE_DELAY"), group="pipeline", default_doc="1000"),
    Setting("span_export_timeout", Milliseconds(allow_zero=True), 30.0,
            "Deadline of one export call, in ms (0: no limit other than the shutdown deadline).",
            ("TL_OTEL_SPAN_EXPORT_TIMEOUT", "OTEL_BSP_EXPORT_TIMEOUT"), group="pipeline", default_doc="30000"),
    Setting("log_queue_size", IntRange(1), 2048, "Capacity of the log record queue.",
            ("TL_OTEL_LOG_QUEUE_SIZE", "OTEL_BLRP_MAX_QUEUE_SIZE"), group="pipeline"),
    Setting("log_batch_size", IntRange(1), 512, "Most log records handed to an exporter at once (≤ queue size).",
            ("TL_OTEL_LOG_BATCH_SIZE", "OTEL_BLRP_MAX_EXPORT_BATCH_SIZE"), group="pipeline"),
    Setting("log_schedule_delay", Milliseconds(allow_zero=True), 1.0,
            "Longest wait before queued log records are exported, in ms.",
            ("TL_OTEL_LOG_SCHEDULE_DELAY", "OTEL_BLRP_SCHEDULE_DELAY"), group="pipeline", default_doc="1000"),
    Setting("log_export_timeout", Milliseconds(allow_zero=True), 30.0,
            "Deadline of one log export call, in ms (0: no limit other than the shutdown deadline).",
            ("TL_OTEL_LOG_EXPORT_TIMEOUT", "OTEL_BLRP_EXPORT_TIMEOUT"), group="pipeline", default_doc="30000"),
    Setting("metric_export_interval", Milliseconds(), 60.0, "Interval between metric exports, in ms.",
            ("TL_OTEL_METRIC_EXPORT_INTERVAL", "OTEL_METRIC_EXPORT_INTERVAL"), group="pipeline",
            default_doc="60000"),
    Setting("metric_export_timeout", Milliseconds(allow_zero=True), 30.0,
            "Deadline of one metric export, in ms (0: no limit other than the shutdown deadline).",
            ("TL_OTEL_METRIC_EXPORT_TIMEOUT", "OTEL_METRIC_EXPORT_TIMEOUT"), group="pipeline",
            default_doc="30000"),
    # --- alerting ---------------------------------------------------------------------------
    Setting("alerts", parse_bool, True, "The alerting span processor (counts errors and slow spans, evaluates rules).",
            ("TL_OTEL_ALERTS",), group="alerts"),
    Setting("alert_error_rate", parse_ratio, 0.05, "Error-rate threshold for API requests and worker tasks.",
            ("TL_OTEL_ALERT_ERROR_RATE",), group="alerts"),
    Setting("alert_latency_ms", IntRange(1, 3_600_000), 1000,
            "Response-time threshold: the alert fires when the p95 of API requests is above it.",
            ("TL_OTEL_ALERT_LATENCY_MS",), group="alerts"),
    Setting("alert_window_s", Seconds(1.0, 86400.0), 300.0, "Sliding window the rules are evaluated over.",
            ("TL_OTEL_ALERT_WINDOW_S",), group="alerts"),
    Setting("alert_min_requests", IntRange(1, 1_000_000), 20,
            "Fewest requests (or tasks) in the window before a rate can alert: 1 failure out of 1 never pages.",
            ("TL_OTEL_ALERT_MIN_REQUESTS",), group="alerts"),
    Setting("alert_for_s", Seconds(0.0, 86400.0), 60.0,
            "How long a condition must hold before its alert fires (pending until then).",
            ("TL_OTEL_ALERT_FOR_S",), group="alerts"),
    Setting("alert_repeat_s", Seconds(1.0, 7 * 86400.0), 14400.0, "How often a firing alert is notified again.",
            ("TL_OTEL_ALERT_REPEAT_S",), group="alerts"),
    Setting("alert_eval_interval_s", Seconds(0.05, 3600.0), 10.0, "How often the rules are evaluated.",
            ("TL_OTEL_ALERT_EVAL_INTERVAL_S",), group="alerts"),
    Setting("alert_store", Choice(("local", "process")), "local",
            "`local`: the processes of one service on one host (forked or spawned workers, Celery children) share "
            "windows and alert state through a SQLite file in a directory private to the user "
            "(`$XDG_RUNTIME_DIR/tl-otel`, else `<tempdir>/tl-otel-<uid>`): one notification per incident, not one "
            "per worker; `process`: each process alone.",
            ("TL_OTEL_ALERT_STORE",), group="alerts"),
    Setting("alert_max_keys", IntRange(10, 1_000_000), 1000,
            "Most distinct routes, tasks and peers each process tracks at a time for alerting; the others are "
            "counted together under one key per kind (one WARNING says so).",
            ("TL_OTEL_ALERT_MAX_KEYS",), group="alerts"),
    Setting("alert_redis_url", Endpoint("redis"), None,
            "Share alert windows and state through Redis across hosts and pods (overrides TL_OTEL_ALERT_STORE); "
            "`rediss://` for TLS; needs the redis package (`tl-otel[redis]`, or the application's own).",
            ("TL_OTEL_ALERT_REDIS_URL",), secret=True, group="alerts"),
    Setting("alert_redis_ca_file", parse_str, None,
            "CA file to verify the alert Redis server's certificate with `rediss://` (a private CA); the system "
            "CAs otherwise (the URL's `ssl_ca_certs` parameter works too).",
            ("TL_OTEL_ALERT_REDIS_CA_FILE",), group="alerts"),
    Setting("alert_slack_webhook_url", Endpoint("url"), None, "Slack incoming webhook for alerts.",
            ("TL_OTEL_ALERT_SLACK_WEBHOOK_URL",), secret=True, group="alerts"),
    Setting("alert_webhook_ca_file", parse_str, None,
            "CA file to verify the alert webhook's certificate (a private CA); the system CAs otherwise.",
            ("TL_OTEL_ALERT_WEBHOOK_CA_FILE",), group="alerts"),
    Setting("alert_email_to", parse_name_list, (), "Alert email recipients (comma list).",
            ("TL_OTEL_ALERT_EMAIL_TO",), group="alerts", default_doc="none"),
    Setting("alert_email_from", parse_str, None, "Alert email sender.", ("TL_OTEL_ALERT_EMAIL_FROM",),
            group="alerts", default_doc="`tl-otel@<host name>`"),
    Setting("smtp_host", Endpoint("host"), None,
            "SMTP server for alert email: a host name alone (TL_OTEL_SMTP_PORT and TL_OTEL_SMTP_TLS say the rest).",
            ("TL_OTEL_SMTP_HOST",), group="alerts"),
    Setting("smtp_port", IntRange(1, 65535), 587, "SMTP port.", ("TL_OTEL_SMTP_PORT",), group="alerts"),
    Setting("smtp_username", parse_str, None, "SMTP login.", ("TL_OTEL_SMTP_USERNAME",), group="alerts"),
    Setting("smtp_password", parse_str, None, "SMTP password.", ("TL_OTEL_SMTP_PASSWORD",), secret=True,
            group="alerts"),
    Setting("smtp_tls", Choice(("starttls", "ssl", "none")), "starttls",
            "SMTP transport security; certificates are verified.", ("TL_OTEL_SMTP_TLS",), group="alerts"),
    Setting("smtp_ca_file", parse_str, None, "CA file to verify a private SMTP server's certificate.",
            ("TL_OTEL_SMTP_CA_FILE",), group="alerts"),
    Setting("alert_disk_paths", parse_name_list, (".",), "Filesystems checked for free space.",
            ("TL_OTEL_ALERT_DISK_PATHS",), group="alerts", default_doc="`.` (the working directory's filesystem)"),
    Setting("alert_disk_min_free", parse_free_space, ("percent", 5.0),
            "Disk-full threshold: free space below it alerts (`10%` or a size such as `5GiB`).",
            ("TL_OTEL_ALERT_DISK_MIN_FREE",), group="alerts", default_doc="`5%`"),
    # --- sampling (standard meaning) ------------------------------------------------------
    Setting("traces_sampler", Choice(_SAMPLERS), "parentbased_always_on",
            "Which traces are exported. tl-otel's own processors still see every local root span.",
            ("OTEL_TRACES_SAMPLER",), group="sampling"),
    Setting("traces_sampler_arg", parse_ratio, 1.0, "Ratio for the traceidratio samplers.",
            ("OTEL_TRACES_SAMPLER_ARG",), group="sampling"),
)

BY_NAME: dict[str, Setting] = {setting.name: setting for setting in SETTINGS}
