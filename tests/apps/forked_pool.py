"""A service that configures tl-otel, then serves requests from a ``multiprocessing`` fork pool (the children
inherit the configured tl-otel and end through ``os._exit``): ``python -m tests.apps.forked_pool COUNT``.
Request ``n`` fails when ``n % 10 < 3`` (30 %). The pool's pids go to stderr; the process then waits for
SIGTERM, evaluating alerts meanwhile."""

from __future__ import annotations

import multiprocessing
import os
import sys
import time

from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode

import tl_otel


def handle(n: int) -> int:
    failed = n % 10 < 3
    tracer = trace.get_tracer("forked-pool")
    with tracer.start_as_current_span("GET /jobs/{n}", kind=SpanKind.SERVER,
                                      attributes={"http.route": "/jobs/{n}",
                                                  "http.status_code": 500 if failed else 200}) as span:
        if failed:
            span.set_status(Status(StatusCode.ERROR))
    return os.getpid()


def main() -> None:
    tl_otel.configure(instrument=False)
    pool = multiprocessing.get_context("fork").Pool(3)
    pids = pool.map(handle, range(int(sys.argv[1])), chunksize=1)
    pool.close()
    pool.join()
    sys.stderr.write(f"pool pids: {sorted(set(pids))}\n")
    sys.stderr.flush()
    while True:
        time.sleep(1)


if __name__ == "__main__":
    main()
