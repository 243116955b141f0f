"""``./run bench [NAME ...] [OPTIONS]``: every benchmark, each comparing variants interleaved in one run and
reporting ratios (this machine is noisy; no result here is a pass/fail). Options after the names go to the
named benchmarks that take them (``spans``, ``requests``, ``latency``), e.g. ``./run bench requests --rounds 1``."""

from __future__ import annotations

import sys

from benchmarks import (
    alerting_cost,
    alerting_rss,
    hung_backends_rss,
    json_logs,
    latency,
    posthog_delivery,
    redaction_cost,
    request_path,
    scout_capture,
    scout_translation,
    span_cost,
    startup,
    wire_costs,
)

DEFAULT = ["spans", "logs", "posthog", "scout", "scout-capture", "alerts", "redaction", "wire", "requests", "latency",
           "startup"]
# In the order they run; the ones that take options get the arguments after the names.
BENCHMARKS = {
    "spans": span_cost.run, "logs": json_logs.run, "posthog": posthog_delivery.run, "scout": scout_translation.run,
    "scout-capture": scout_capture.run, "alerts": alerting_cost.run,
    "alerts-rss": alerting_rss.run,  # a forked child through 20,000 simulated seconds: only when asked for
    "redaction": redaction_cost.run, "wire": wire_costs.run,
    "rss": hung_backends_rss.run,  # ten minutes by default: only when asked for
    "requests": request_path.run, "latency": latency.run, "startup": startup.run,
}
TAKES_OPTIONS = {"spans", "requests", "latency"}


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    split = next((index for index, arg in enumerate(argv) if arg.startswith("-")), len(argv))
    names, options = argv[:split], argv[split:]
    unknown = [name for name in names if name not in BENCHMARKS]
    if unknown:
        raise SystemExit(f"unknown benchmark(s) {', '.join(unknown)}; known: {', '.join(BENCHMARKS)}")
    which = set(names) or set(DEFAULT)
    if options and not which <= TAKES_OPTIONS:
        raise SystemExit(f"options ({' '.join(options)}) are for {' and '.join(sorted(TAKES_OPTIONS))} only: "
                         "name them alone, e.g. ./run bench requests --rounds 1")
    for name, benchmark in BENCHMARKS.items():
        if name in which:
            if name in TAKES_OPTIONS:
                benchmark(options)
            else:
                benchmark()


if __name__ == "__main__":
    main()
