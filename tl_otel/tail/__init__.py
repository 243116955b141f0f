"""`tl-otel tail`: tl-otel's JSON lines shown to a person: request trees, a per-route table, filters."""
