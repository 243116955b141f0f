"""The latency benchmark's load: ``python -m benchmarks.open_loop_client PORT --rate R`` sends ``GET
/hello/<n>`` at a fixed rate, whatever the server does (open loop), over N keep-alive connections, and times
each request from the moment it was **scheduled**, not from when a connection was free to send it: a server
that stalls for 50 ms makes every request scheduled in those 50 ms late, as it would for real users (no
coordinated omission). Requests wait in a queue while every connection is busy; that wait is in their latency.

Output on stdout: ``start`` when the measured window opens (after the warm-up), then one JSON line when every
request scheduled inside the window has been answered: the percentiles (benchmarks/percentiles.py), how many
requests were scheduled and answered, the longest queue wait, and the client's own CPU per request."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from dataclasses import dataclass, field

from benchmarks.load_client import exchange
from benchmarks.percentiles import summary_ms


class Schedule:
    """Request ``i`` is due at ``start + i / rate``; ``due(now)`` hands out every one due by ``now`` not yet
    handed out (all of them at once when the sender woke late, each with its own scheduled time)."""

    def __init__(self, rate: float, start: float) -> None:
        if rate <= 0:
            raise ValueError(f"rate must be > 0, got {rate!r}")
        self.rate, self.start, self.issued = rate, start, 0

    def at(self, index: int) -> float:
        return self.start + index / self.rate

    def next_due(self) -> float:
        return self.at(self.issued)

    def due(self, now: float) -> list[float]:
        times = []
        while self.at(self.issued) <= now:
            times.append(self.at(self.issued))
            self.issued += 1
        return times


@dataclass
class Window:
    """Requests scheduled in [opened, closes) are measured; the others only keep the load steady."""

    opened: float
    closes: float
    latencies: list[float] = field(default_factory=list)
    longest_wait: float = 0.0
    scheduled: int = 0

    def counts(self, scheduled_at: float) -> bool:
        return self.opened <= scheduled_at < self.closes


async def send(schedule: Schedule, window: Window, queue: asyncio.Queue[float | None], connections: int) -> None:
    clock = time.perf_counter
    announced = False
    while schedule.next_due() < window.closes:
        await asyncio.sleep(max(0.0, schedule.next_due() - clock()))
        for scheduled_at in schedule.due(min(clock(), window.closes - 1e-9)):
            window.scheduled += window.counts(scheduled_at)
            queue.put_nowait(scheduled_at)
        if not announced and clock() >= window.opened:
            announced = True
            print("start", flush=True)
    for _ in range(connections):
        queue.put_nowait(None)


async def connection(port: int, queue: asyncio.Queue[float | None], window: Window) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    clock, counter = time.perf_counter, 0
    try:
        while (scheduled_at := await queue.get()) is not None:
            sent = clock()
            counter += 1
            await exchange(reader, writer, f"/hello/{counter}")
            if window.counts(scheduled_at):
                window.latencies.append(clock() - scheduled_at)
                window.longest_wait = max(window.longest_wait, sent - scheduled_at)
    finally:
        writer.close()


async def load(port: int, rate: float, connections: int, warmup: float, duration: float) -> dict[str, float]:
    queue: asyncio.Queue[float | None] = asyncio.Queue()
    start = time.perf_counter() + 0.2  # the connections open in these 0.2 s, before the first request is due
    window = Window(start + warmup, start + warmup + duration)
    tasks = [asyncio.create_task(connection(port, queue, window)) for _ in range(connections)]
    cpu_before = time.process_time()
    await asyncio.gather(send(Schedule(rate, start), window, queue, connections), *tasks)
    client_cpu = time.process_time() - cpu_before
    answered = len(window.latencies)
    return {"rate": rate, "seconds": duration, "scheduled": window.scheduled, "answered": answered,
            **{f"{key}_ms": value for key, value in summary_ms(window.latencies).items()},
            "longest_queue_wait_ms": window.longest_wait * 1000,
            "client_cpu_us": client_cpu / max(answered, 1) * 1e6}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("port", type=int)
    parser.add_argument("--rate", type=float, required=True, help="requests per second")
    parser.add_argument("--connections", type=int, default=48)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--duration", type=float, default=8.0)
    options = parser.parse_args(argv)
    result = asyncio.run(load(options.port, options.rate, options.connections, options.warmup, options.duration))
    json.dump(result, sys.stdout)
    print(flush=True)


if __name__ == "__main__":
    main()
