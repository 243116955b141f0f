"""Dashboards as code over tl-otel's own events."""
