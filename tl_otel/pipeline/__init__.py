"""The delivery pipeline: one bounded queue filled by the application thread, a dispatcher, and one
destination (own queue, worker thread, deadline) per exporter."""
