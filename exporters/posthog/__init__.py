"""PostHog: spans become the seed's business events and ``$exception`` events (``spans``), log records go
to PostHog's own OTLP logs endpoint (``logs``)."""
