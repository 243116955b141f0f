"""JSON lines on stdout: one complete UTF-8 line per log record, notable span or metric data point."""
