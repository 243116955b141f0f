"""``configure()``: settings → providers → pipelines → process hooks, one ``_init_<signal>`` per signal.

The launcher (through the configurator entry point) and programmatic use run this same function, so
both give the same result."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Mapping, Sequence
from typing import Any

from opentelemetry import _logs, metrics, trace
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricReader, PeriodicExportingMetricReader
from opentelemetry.sdk.trace import SpanLimits, TracerProvider
from opentelemetry.sdk.trace.sampling import _KNOWN_SAMPLERS

from tl_otel.app_thread import span_guards
from tl_otel.app_thread.exception_context import LocalRootLinker
from tl_otel.app_thread.log_records import release_context
from tl_otel.app_thread.processors import FanoutLogRecordProcessor, FanoutSpanProcessor
from tl_otel.app_thread.sampling import LocalRootRecordingSampler
from tl_otel.diagnostics import self_log
from tl_otel.diagnostics.self_log import logger
from tl_otel.integrations import celery, servers
from tl_otel.integrations.logging import OTelLogHandler, install, keep_own_threads_apart, quiet_opentelemetry_debug
from tl_otel.pipeline import log_record, span_record
from tl_otel.pipeline.destination import Destination
from tl_otel.pipeline.fanout import Fanout
from tl_otel.redaction import Redactor
from tl_otel.redaction import metrics as metrics_redaction
from tl_otel.redaction import redactor as redaction
from tl_otel.semantics import request_kinds
from tl_otel.semantics.request_kinds import RequestKinds
from tl_otel.settings import ConfigurationError, Settings, resolve
from tl_otel.settings.sdk_env import normalise_sdk_endpoints, unset_invalid_sdk_variables
from tl_otel.startup import startup_line
from tl_otel.startup.exporter_selection import load_exporters, log_companions, selected_exporters
from tl_otel.startup.resource import build_resource, refresh_process_pid
from tl_otel.startup.runtime import Runtime, current, set_current

_launched = False  # configured by the launcher, which instruments libraries itself
_configure_lock = threading.Lock()
# Set by tl_otel.testing: the application's own configure() call during tests is expected, not a mistake.
quiet_repeat_configure = False

# Exporters flagged with this attribute also receive spans the sampler did not sample (they still
# reach tl-otel's processors as record-only local roots), e.g. business events that must not shrink.
ACCEPTS_UNSAMPLED = "tl_otel_accepts_unsampled"
# Exporters flagged with this attribute read the dispatcher's compact records (tl_otel.pipeline.span_record,
# tl_otel.pipeline.log_record) instead of the SDK's ReadableSpans and log records, and may offer
# ``wants(record)``: only the records it keeps reach its destination.
READS_RECORDS = "tl_otel_reads_records"




def _is_sampled(span: Any) -> bool:
    return span.context.trace_flags.sampled


def _sampler(settings: Settings) -> LocalRootRecordingSampler:
    factory = _KNOWN_SAMPLERS[settings.traces_sampler]
    delegate = factory(settings.traces_sampler_arg) if "ratio" in settings.traces_sampler else factory
    return LocalRootRecordingSampler(delegate)


def _report(problems: Sequence[str], strict: bool) -> None:
    if not problems:
        return
    if strict:
        raise ConfigurationError("tl-otel configuration is invalid (TL_OTEL_STRICT=true):\n  - "
                                 + "\n  - ".join(problems))
    for problem in problems:
        logger.warning(problem)


def _destinations(signal: str, exporters: list[tuple[str, Any]], capacity: int, batch_size: int,
                  schedule_delay: float) -> list[Destination]:
    destinations = []
    for name, exporter in exporters:
        reads_records = bool(getattr(exporter, READS_RECORDS, False))
        accepts = None
        if signal == "traces" and not getattr(exporter, ACCEPTS_UNSAMPLED, False):
            accepts = span_record.is_sampled if reads_records else _is_sampled
        wants = getattr(exporter, "wants", None) if reads_records else None
        if wants is not None:
            accepts = wants if accepts is None else (lambda item, sampled=accepts, wants=wants:
                                                     sampled(item) and wants(item))
        # The dispatcher hands over small batches (fanout.RELEASE_AT); an exporter that is not tl-otel's
        # (OTLP: one request per export) still gets batches of up to the batch size, as a
        # BatchSpanProcessor would give it. tl-otel's own export what they get at once (JSON lines keep pace
        # with the application's own output), unless they say otherwise (PostHog joins batches itself).
        joined = (0, 0.0) if reads_records else (batch_size, schedule_delay)
        destinations.append(Destination(f"{signal}-{name}", exporter, capacity, accepts, takes_records=reads_records,
                                        batch_items=joined[0], linger=joined[1]))
    return destinations


def _init_traces(settings: Settings, resource: Any, exporters: list[tuple[str, Any]], redactor: Redactor):
    limits = SpanLimits(max_attribute_length=settings.attribute_value_length_limit)
    provider = TracerProvider(resource=resource, sampler=_sampler(settings), shutdown_on_exit=False,
                              span_limits=limits)
    fanout = Fanout("spans", _destinations("traces", exporters, settings.span_queue_size, settings.span_batch_size,
                                           settings.span_schedule_delay),
                    settings.span_queue_size, settings.span_batch_size, settings.span_schedule_delay,
                    prepare=redactor.redact_span, record=span_record.from_span)
    provider.add_span_processor(LocalRootLinker())  # first: an exception recorded in on_start's span knows its root
    # A span exporter may need data only the application's thread has at a span's start or end (Scout:
    # memory, allocation counters, stacks); it offers a span processor, added first so that what it
    # writes is on the span before the span is handed to the destinations.
    for _, exporter in exporters:
        companion = getattr(exporter, "app_thread_processor", None)
        if companion is not None:
            provider.add_span_processor(companion())
    provider.add_span_processor(FanoutSpanProcessor(fanout, settings.shutdown_timeout))
    trace.set_tracer_provider(provider)
    return provider, fanout


def _init_logs(settings: Settings, resource: Any, exporters: list[tuple[str, Any]], redactor: Redactor):
    provider = LoggerProvider(resource=resource, shutdown_on_exit=False)
    fanout = Fanout("logs", _destinations("logs", exporters, settings.log_queue_size, settings.log_batch_size,
                                          settings.log_schedule_delay),
                    settings.log_queue_size, settings.log_batch_size, settings.log_schedule_delay,
                    prepare=lambda record: (redactor.redact_log(record), release_context(record)),
                    record=log_record.from_log)
    provider.add_log_record_processor(FanoutLogRecordProcessor(fanout, settings.shutdown_timeout))
    _logs.set_logger_provider(provider)
    handler = None
    if settings.logging:
        level = logging.getLevelName(settings.log_level.upper())
        handler = OTelLogHandler(provider, level, settings.json_max_value_length)
        install(handler, level)
    return provider, fanout, handler


def _init_alerts(settings: Settings, resource: Any, tracer_provider: Any, logger_provider: Any):
    if not settings.alerts:
        return None
    from tl_otel.alerting.setup import build

    service = str(resource.attributes.get("service.name", "unknown_service"))
    try:
        processor, engine, problems = build(settings, service, logger_provider)
    except Exception as exc:  # configuration never fails on alerting: everything else goes on as configured
        logger.warning("alerting is off: it could not be set up (%s: %s)", type(exc).__name__, exc)
        return None
    _report(problems, settings.strict)
    tracer_provider.add_span_processor(processor)
    engine.start()
    return engine


def _init_metrics(settings: Settings, resource: Any, exporters: list[tuple[str, Any]], redactor: Redactor):
    readers: list[MetricReader] = []
    timeout_ms = (settings.metric_export_timeout or settings.shutdown_timeout) * 1000
    for _, exporter in exporters:
        if isinstance(exporter, MetricReader):
            readers.append(exporter)
        else:
            readers.append(PeriodicExportingMetricReader(
                exporter, export_interval_millis=settings.metric_export_interval * 1000,
                export_timeout_millis=timeout_ms))
    for reader in readers:
        # Every collection passes the redaction step before the reader (and its exporter) sees it.
        metrics_redaction.install(reader, redactor)
    provider = MeterProvider(resource=resource, metric_readers=readers, shutdown_on_exit=False)
    metrics.set_meter_provider(provider)
    return provider


def configure(
    *,
    service_name: str | None = None,
    environment: str | None = None,
    traces_exporter: str | Sequence[str] | None = None,
    logs_exporter: str | Sequence[str] | None = None,
    metrics_exporter: str | Sequence[str] | None = None,
    posthog_api_key: str | None = None,
    posthog_host: str | None = None,
    scout_key: str | None = None,
    scout_monitor: bool | None = None,
    log_level: str | None = None,
    shutdown_timeout: float | None = None,
    strict: bool | None = None,
    settings: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
    instrument: bool = True,
) -> Runtime:
    """Set up traces, logs and metrics exactly as the ``opentelemetry-instrument`` launcher does,
    including instrumenting every installed library that has an instrumentation package (pass
    ``instrument=False`` to skip that; OTEL_PYTHON_DISABLED_INSTRUMENTATIONS is honoured).

    Every argument is a setting from the registry (see docs/configuration.md); ``settings`` takes any
    other by name. An argument wins over every environment variable. A second call warns and returns
    the first configuration unchanged."""
    overrides = {name: value for name, value in {
        "service_name": service_name, "environment": environment, "traces_exporter": traces_exporter,
        "logs_exporter": logs_exporter, "metrics_exporter": metrics_exporter,
        "posthog_api_key": posthog_api_key, "posthog_host": posthog_host, "scout_key": scout_key,
        "scout_monitor": scout_monitor, "log_level": log_level, "shutdown_timeout": shutdown_timeout,
        "strict": strict,
    }.items() if value is not None}
    overrides.update(settings or {})
    with _configure_lock:
        existing = current()
        if existing is not None:
            if quiet_repeat_configure:
                return existing
            logger.warning("tl_otel.configure() was called again; keeping the first configuration "
                           "(no processors or log handlers were added)")
            return existing
        resolved = resolve(overrides, env)
        _report([problem.message for problem in resolved.problems], resolved.strict)
        if env is None:
            unset_invalid_sdk_variables(resolved.problems, os.environ)
            normalise_sdk_endpoints(resolved, os.environ)
        runtime = _build(resolved)
        set_current(runtime)
    if instrument and not _launched:
        instrument_libraries()
    if not _launched:
        startup_line.announce(runtime)
    return runtime


def instrument_libraries() -> None:
    """What the launcher does after configuring: every installed instrumentor, through tl-otel's distro
    (so it gets tl-otel's per-instrumentor options). Libraries' objects created before this call (e.g. a
    FastAPI app) are not instrumented: call configure() first."""
    try:
        from opentelemetry.instrumentation.auto_instrumentation._load import _load_instrumentors

        from tl_otel.startup.distro import TlOtelDistro
        from tl_otel.startup.instrumentation_versions import launcher_checks

        with launcher_checks():
            _load_instrumentors(TlOtelDistro())
    except Exception as exc:
        logger.warning("instrumenting installed libraries failed (%s: %s); telemetry is configured, "
                       "but library calls may not be traced", type(exc).__name__, exc)


def configured_secrets(settings: Settings) -> list[str]:
    from tl_otel.settings.registry import SETTINGS

    values = (getattr(settings, setting.name, None) for setting in SETTINGS if setting.secret)
    return [value for value in values if isinstance(value, str) and value]


def _build(settings: Settings) -> Runtime:
    # Installed first: from here on tl-otel's own log lines and every item are redacted.
    redactor = redaction.from_settings(settings, configured_secrets(settings))
    redaction.install(redactor)
    if settings.logging:  # TL_OTEL_LOGGING=false leaves stdlib logging untouched, these too
        keep_own_threads_apart()  # before tl-otel's threads start: their libraries' records stay tl-otel's
        quiet_opentelemetry_debug()
    request_kinds.install(RequestKinds(settings.long_lived_routes))
    span_guards.install()
    resource = build_resource(settings, redactor)
    self_log.set_service_name(resource.attributes.get("service.name"))
    os.register_at_fork(after_in_child=lambda: refresh_process_pid(resource))
    loaded = {}
    problems: list[str] = []
    for signal in ("traces", "logs", "metrics"):
        result = load_exporters(signal, selected_exporters(signal, settings), settings)
        loaded[signal] = result.exporters
        problems.extend(result.problems)
    _report(problems, settings.strict)

    loaded["logs"].extend((name, companion()) for name, companion in log_companions(loaded["traces"]))
    tracer_provider, span_fanout = _init_traces(settings, resource, loaded["traces"], redactor)
    logger_provider, log_fanout, handler = _init_logs(settings, resource, loaded["logs"], redactor)
    alert_engine = _init_alerts(settings, resource, tracer_provider, logger_provider)
    meter_provider = _init_metrics(settings, resource, loaded["metrics"], redactor)
    runtime = Runtime(
        settings=settings, tracer_provider=tracer_provider, logger_provider=logger_provider,
        meter_provider=meter_provider, span_fanout=span_fanout, log_fanout=log_fanout, log_handler=handler,
        alert_engine=alert_engine,
        exporters={signal: [name for name, _ in items] for signal, items in loaded.items()},
        exporter_objects={signal: dict(items) for signal, items in loaded.items()},
    )
    if settings.self_metrics:
        from tl_otel.diagnostics import self_metrics

        self_metrics.register(meter_provider, runtime)
    servers.install_atexit(runtime.shutdown)
    if settings.handle_sigterm:
        servers.install_sigterm(runtime.shutdown)
    celery.install_celery_hooks(
        lambda: runtime.shutdown(settings.celery_flush_timeout), handler,
        logging.getLevelName(settings.log_level.upper()),
    )
    return runtime


def configure_from_launcher() -> None:
    """Entry for the configurator. The launcher swallows ordinary exceptions, so a strict-mode error
    ends the process here with the message and exit status 2."""
    global _launched
    from tl_otel.startup.process_roles import launched_helper

    if launched_helper() is not None:
        return  # a helper process (multiprocessing's, a reloader parent): left untouched
    _launched = True
    try:
        runtime = configure(instrument=False)
        startup_line.announce_after_launcher_instruments(runtime)
    except ConfigurationError as exc:
        logger.error("%s", exc)
        os._exit(2)
