"""``tl-otel doctor``: what tl-otel would do here, and whether each configured destination answers."""
