"""A process that makes telemetry at a steady rate: one SERVER span (a request) and one log line inside it,
``--rate`` per second for ``--seconds``, each numbered. With ``--idle`` it then waits for a signal (so a test
decides when it stops); ``--poison N`` makes every Nth log body an object no encoder can take."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import time

from opentelemetry import _logs, trace

import tl_otel


class Poison:
    def __str__(self) -> str:
        raise RuntimeError("unprintable")

    __repr__ = __str__


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rate", type=float, default=20.0)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--idle", action="store_true")
    parser.add_argument("--poison", type=int, default=0)
    options = parser.parse_args()

    tl_otel.configure(service_name="emitter", instrument=False)
    tracer = trace.get_tracer("emitter")
    log = logging.getLogger("emitter")
    otel_logger = _logs.get_logger("emitter")
    total = int(options.rate * options.seconds)
    started = time.monotonic()
    print(f"STARTED {time.time():.3f}", file=sys.stderr, flush=True)
    for index in range(total):
        with tracer.start_as_current_span("GET /items/{item_id}", kind=trace.SpanKind.SERVER, attributes={
                "http.method": "GET", "http.route": "/items/{item_id}", "http.target": f"/items/{index}",
                "http.status_code": 200, "item.index": index}) as span:
            if options.poison and index % options.poison == options.poison - 1:
                span._attributes._dict["poison"] = Poison()  # what a misbehaving instrumentation could leave
                otel_logger.emit(_logs.LogRecord(body=Poison(), attributes={"item.index": index}))
            else:
                log.warning("item %d served", index, extra={"item.index": index})
        time.sleep(max(0.0, started + (index + 1) / options.rate - time.monotonic()))
    print(f"PRODUCED {total}", file=sys.stderr, flush=True)
    if options.idle:
        signal.pause()  # until SIGTERM: tl-otel flushes, then the signal ends the process as before


if __name__ == "__main__":
    main()
