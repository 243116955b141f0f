"""The delivery pipeline, on tl-otel's own threads: the bounded queue the application's processors append to
(``tl_otel.app_thread.processors``), a dispatcher that redacts and makes compact records, and one destination
(own queue, worker thread, deadline) per exporter."""
