"""A local fake of Scout's core agent: reads 4-byte big-endian length + JSON frames on a Unix or TCP
socket, records every message, and replies ``{"<Command>": {"result": "Success"}}`` with the same framing
(as Scout's Node agent's MockAgent does). It can also stay mute (never reply) or drop the connection
after a number of frames, to stand in for an agent that hangs or is killed mid-stream."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import struct
import threading
from typing import Any

from examples.peers.waiting import wait_for


class FakeCoreAgent:
    def __init__(self, address: str, reply: bool = True, close_after: int | None = None, closes: int = 1) -> None:
        """``close_after``: the agent closes a connection after reading that many frames without replying to
        the last, on each of its first ``closes`` connections (later ones are served normally)."""
        self.address = address
        self.reply = reply
        self.close_after = close_after
        self.closes = closes
        self.messages: list[dict[str, Any]] = []
        self.connections = 0
        self.frame_sizes: list[int] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        if address.startswith("tcp://"):
            host, _, port = address[len("tcp://"):].rpartition(":")
            self._server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            self._server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self._server.bind((host, int(port)))
        else:
            if os.path.exists(address):
                os.unlink(address)
            self._server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self._server.bind(address)
        self._server.listen(16)
        self._server.settimeout(0.2)
        self._clients: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._server.accept()
            except (TimeoutError, OSError):
                continue
            with self._lock:
                self.connections += 1
                self._clients.append(client)
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _read(self, client: socket.socket, size: int) -> bytes | None:
        data = b""
        while len(data) < size:
            try:
                chunk = client.recv(size - len(data))
            except OSError:
                return None
            if not chunk:
                return None
            data += chunk
        return data

    def _serve(self, client: socket.socket) -> None:
        frames = 0
        with self._lock:
            closing = self.connections <= self.closes
        with client:
            while not self._stop.is_set():
                header = self._read(client, 4)
                if header is None:
                    return
                size = struct.unpack(">I", header)[0]
                body = self._read(client, size)
                if body is None:
                    return
                message = json.loads(body)
                with self._lock:
                    self.messages.append(message)
                    self.frame_sizes.append(size + 4)
                frames += 1
                if self.close_after is not None and frames >= self.close_after and closing:
                    return  # killed mid-stream; the connections after the first ``closes`` are served normally
                if self.reply:
                    name = next(iter(message))
                    payload = json.dumps({name: {"result": "Success"}}).encode()
                    try:
                        client.sendall(struct.pack(">I", len(payload)) + payload)
                    except OSError:
                        return

    def stop(self) -> None:
        self._stop.set()
        self._server.close()
        with self._lock:
            for client in self._clients:
                with contextlib.suppress(OSError):
                    client.shutdown(socket.SHUT_RDWR)
                client.close()
        if not self.address.startswith("tcp://") and os.path.exists(self.address):
            os.unlink(self.address)

    # -- reading what arrived ---------------------------------------------------------------------
    def named(self, command: str) -> list[dict[str, Any]]:
        with self._lock:
            return [message[command] for message in self.messages if command in message]

    def requests(self) -> list[list[dict[str, Any]]]:
        """Each BatchCommand's commands."""
        return [batch["commands"] for batch in self.named("BatchCommand")]

    @staticmethod
    def wait_for(predicate: Any, timeout: float = 20.0) -> bool:
        return wait_for(predicate, timeout)


def summarise(commands: list[dict[str, Any]]) -> dict[str, Any]:
    """A request as a comparable shape: its tags, and its span tree by operation with span tags."""
    request_tags: dict[str, Any] = {}
    spans: dict[str, dict[str, Any]] = {}
    for command in commands:
        (name, body), = command.items()
        if name == "TagRequest":
            request_tags[body["tag"]] = body["value"]
        elif name == "StartSpan":
            spans[body["span_id"]] = {"operation": body["operation"], "parent": body["parent_id"], "tags": {}}
        elif name == "TagSpan":
            spans[body["span_id"]]["tags"][body["tag"]] = body["value"]

    def tree(span_id: str | None) -> list[Any]:
        children = [(key, span) for key, span in spans.items() if span["parent"] == span_id]
        return sorted(((span["operation"], span["tags"], tree(key)) for key, span in children), key=repr)

    return {"tags": request_tags, "tree": tree(None)}
