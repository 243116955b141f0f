"""tl-engine: the seed's Engine API (FastAPI) and Engine Worker (Celery), used as tl-otel's example.

It contains no instrumentation code: run it under ``opentelemetry-instrument`` and tl-otel captures it.
The only tl-otel call is ``tl_otel.engine_run``, which marks one engine execution (a no-op without
tl-otel configured)."""
