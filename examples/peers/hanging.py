"""A TCP server that accepts connections and never answers: a backend that hangs (an OTLP collector, a
PostHog host, a webhook stuck behind a load balancer). Clients wait until their own timeouts."""

from __future__ import annotations

import socket
import threading


class HangingServer:
    def __init__(self) -> None:
        self._server = socket.socket()
        self._server.bind(("127.0.0.1", 0))
        self._server.listen(1024)
        self._held: list[socket.socket] = []
        self.url = f"http://127.0.0.1:{self._server.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            self._held.append(client)

    @property
    def connections(self) -> int:
        return len(self._held)

    def stop(self) -> None:
        self._server.close()
        for client in self._held:
            client.close()
