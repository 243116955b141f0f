"""A stand-in for the remote pricing service the example API calls, with scriptable behaviour: every
n-th request fails with 500, answers slowly, or answers 429; ``stop()`` takes it away entirely."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class PricingService:
    def __init__(self) -> None:
        self.fail_every = 0  # 10: one request in ten answers 500
        self.delay = 0.0
        self.status = 200
        self.requests = 0
        self._lock = threading.Lock()
        service = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                return None

            def do_GET(self) -> None:
                with service._lock:
                    service.requests += 1
                    number = service.requests
                if service.delay:
                    time.sleep(service.delay)
                status = service.status
                if service.fail_every and number % service.fail_every == 0:
                    status = 500
                body = b'{"price": 2.5}' if status == 200 else b'{"error": "scripted"}'
                self.send_response(status)
                if status == 429:
                    self.send_header("Retry-After", "1")
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
