"""A local OTLP/HTTP receiver (``POST /v1/traces`` and ``/v1/logs``, protobuf, gzip or not) standing in for a
collector: it answers 200 with an empty export response and counts the spans and log records that arrived.
The benchmarks ship the upstream SDK's OTLP exporters here, the setup most teams run today."""

from __future__ import annotations

import gzip
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest


def items_in(signal: str, body: bytes) -> int:
    """Spans in a traces request, log records in a logs request."""
    if signal == "traces":
        traces = ExportTraceServiceRequest.FromString(body)
        return sum(len(scope.spans) for resource in traces.resource_spans for scope in resource.scope_spans)
    logs = ExportLogsServiceRequest.FromString(body)
    return sum(len(scope.log_records) for resource in logs.resource_logs for scope in resource.scope_logs)


class OtlpSink:
    def __init__(self) -> None:
        self.items: Counter[str] = Counter()  # "traces" -> spans, "logs" -> log records
        self.lock = threading.Lock()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                return None

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                signal = self.path.rstrip("/").rsplit("/", 1)[-1]
                if signal not in ("traces", "logs"):
                    self.answer(404, b"")
                    return
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                count = items_in(signal, body)
                with sink.lock:
                    sink.items[signal] += count
                self.answer(200, b"")  # an empty Export*ServiceResponse: everything accepted

            def answer(self, status: int, payload: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def take(self) -> dict[str, int]:
        """Spans and log records received since the last call."""
        with self.lock:
            items, self.items = self.items, Counter()
        return {"spans": items["traces"], "log_records": items["logs"]}

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
