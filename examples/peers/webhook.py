"""A local HTTP server standing in for a Slack incoming webhook: records each message and its arrival time,
and answers with scripted statuses (200 by default; 0 means hang before answering)."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class WebhookReceiver:
    def __init__(self, hang_s: float = 30.0, tls_context: Any = None) -> None:
        self.received: list[tuple[float, bytes]] = []
        self.answers: list[tuple[int, dict[str, str]]] = []  # used in order, then `default`
        self.default: tuple[int, dict[str, str]] = (200, {})
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                return None

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                try:
                    has_text = "text" in json.loads(body)
                except ValueError:
                    has_text = False
                if not has_text and not hook.answers and hook.default[0] != 0:
                    # What Slack answers a payload without text: 400 no_text, and nothing is posted.
                    self.send_response(400)
                    self.send_header("Content-Length", "7")
                    self.end_headers()
                    self.wfile.write(b"no_text")
                    return
                hook.received.append((time.monotonic(), body))
                status, headers = hook.answers.pop(0) if hook.answers else hook.default
                if status == 0:
                    time.sleep(hang_s)
                    status = 200
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        scheme, host = "http", "127.0.0.1"
        if tls_context is not None:  # HTTPS with the caller's certificate (issued for "localhost")
            self.server.socket = tls_context.wrap_socket(self.server.socket, server_side=True)
            scheme, host = "https", "localhost"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"{scheme}://{host}:{self.server.server_address[1]}/services/T000/B000/secretpath"

    @property
    def texts(self) -> list[str]:
        return [json.loads(body)["text"] for _, body in self.received]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
