"""A local HTTP server that speaks PostHog's capture API (``POST /batch/``, gzip or not) and records what
arrives, with scriptable answers: 200, 400, 401, 413, 429 + Retry-After, 500, or hang (accept and never
answer). Runs on 127.0.0.1 in a thread of the test process; the applications under test are separate
processes that reach it over TCP exactly as they would reach PostHog."""

from __future__ import annotations

import gzip
import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from examples.peers.waiting import wait_for


@dataclass
class Received:
    at: float
    path: str
    headers: dict[str, str]
    body: dict[str, Any] | None
    status: int
    raw: bytes = b""


@dataclass
class Answer:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    hang: float = 0.0  # seconds to hold the request before answering (or closing)


class PostHogCapture:
    def __init__(self) -> None:
        self.received: list[Received] = []
        self.script: deque[Answer] = deque()
        self.default = Answer()
        self.connections = 0  # TCP connections accepted: a client that reuses its connection opens one
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        capture = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                return None

            def setup(self) -> None:
                super().setup()
                with capture._lock:
                    capture.connections += 1

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.headers.get("Content-Encoding") == "gzip":
                    raw = gzip.decompress(raw)
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = None
                with capture._lock:
                    answer = capture.script.popleft() if capture.script else capture.default
                if answer.hang:
                    capture._stopping.wait(answer.hang)
                with capture._lock:
                    capture.received.append(Received(time.monotonic(), self.path, dict(self.headers), body,
                                                     answer.status, raw))
                payload = b'{"status":1}' if answer.status == 200 else b'{"detail":"scripted failure"}'
                self.send_response(answer.status)
                for key, value in answer.headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def answer(self, *answers: Answer) -> None:
        with self._lock:
            self.script.extend(answers)

    def stop(self) -> None:
        self._stopping.set()
        self.server.shutdown()
        self.server.server_close()

    # -- reading what arrived ---------------------------------------------------------------------
    def events(self, accepted_only: bool = True) -> list[dict[str, Any]]:
        with self._lock:
            requests = list(self.received)
        return [event for request in requests if request.body and (request.status == 200 or not accepted_only)
                for event in request.body.get("batch", [])]

    def named(self, name: str) -> list[dict[str, Any]]:
        return [event for event in self.events() if event["event"] == name]

    @staticmethod
    def wait_for(predicate: Any, timeout: float = 20.0) -> bool:
        return wait_for(predicate, timeout)
