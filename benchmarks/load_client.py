"""The request-path benchmark's load: ``python -m benchmarks.load_client PORT`` keeps N keep-alive HTTP/1.1
connections busy (one request in flight on each) with ``GET /items/<counter>``, for a warm-up and then a fixed
measured window. It runs in a process of its own and stays cheap (asyncio streams, no HTTP library) so the
server, not the client, is what the machine spends its CPU on.

Output on stdout: the line ``start`` when the measured window opens (the benchmark reads the server's CPU
then), and when it closes one JSON line: requests completed inside the window, the window's length, and
latency percentiles of those requests, and the client's own CPU per request."""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import sys
import time


class Window:
    """Which requests count: those that complete between ``opened`` and ``closes``."""

    def __init__(self, warmup: float, duration: float) -> None:
        self.opened = time.perf_counter() + warmup
        self.closes = self.opened + duration
        self.latencies: list[float] = []
        self.cpu_at_open = 0.0


async def exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, path: str) -> None:
    """One GET on a keep-alive connection, its answer read to the end (a 200 is required)."""
    writer.write(f"GET {path} HTTP/1.1\r\nHost: bench\r\n\r\n".encode())
    head = await reader.readuntil(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 200"):
        raise RuntimeError(f"unexpected answer: {head[:80]!r}")
    length = 0
    for line in head.split(b"\r\n"):
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    await reader.readexactly(length)


async def connection(port: int, counter: itertools.count, window: Window) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while True:
            started = time.perf_counter()
            if started >= window.closes:
                return
            await exchange(reader, writer, f"/items/{next(counter)}")
            finished = time.perf_counter()
            if window.opened <= finished < window.closes:
                window.latencies.append(finished - started)
    finally:
        writer.close()


async def announce_start(window: Window) -> None:
    await asyncio.sleep(max(0.0, window.opened - time.perf_counter()))
    window.cpu_at_open = time.process_time()
    print("start", flush=True)


def percentile(ordered: list[float], fraction: float) -> float:
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))] if ordered else float("nan")


async def load(port: int, connections: int, warmup: float, duration: float) -> dict[str, float]:
    window, counter = Window(warmup, duration), itertools.count()
    await asyncio.gather(announce_start(window), *(connection(port, counter, window) for _ in range(connections)))
    client_cpu = time.process_time() - window.cpu_at_open
    ordered = sorted(window.latencies)
    # The client's own CPU per request, to see it is small beside the server's (both share the machine).
    return {"requests": len(ordered), "seconds": duration, "p50_ms": percentile(ordered, 0.50) * 1000,
            "p99_ms": percentile(ordered, 0.99) * 1000, "client_cpu_us": client_cpu / max(len(ordered), 1) * 1e6}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("port", type=int)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--duration", type=float, default=5.0)
    options = parser.parse_args(argv)
    result = asyncio.run(load(options.port, options.connections, options.warmup, options.duration))
    json.dump(result, sys.stdout)
    print(flush=True)


if __name__ == "__main__":
    main()
