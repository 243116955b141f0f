"""``./run bench``: every benchmark, each comparing variants interleaved in one run and reporting ratios
(this machine is noisy; no result here is a pass/fail)."""

from __future__ import annotations

import sys

from benchmarks import (
    alerting_cost,
    alerting_rss,
    hung_backends_rss,
    json_logs,
    posthog_delivery,
    redaction_cost,
    request_path,
    scout_capture,
    scout_translation,
    span_cost,
    startup,
    wire_costs,
)


def main() -> None:
    which = set(sys.argv[1:]) or {"spans", "requests", "logs", "posthog", "scout", "scout-capture", "alerts",
                                  "redaction", "wire", "startup"}
    if "spans" in which:
        span_cost.run()
    if "logs" in which:
        json_logs.run()
    if "posthog" in which:
        posthog_delivery.run()
    if "scout" in which:
        scout_translation.run()
    if "scout-capture" in which:
        scout_capture.run()
    if "alerts" in which:
        alerting_cost.run()
    if "alerts-rss" in which:  # a forked child through 20,000 simulated seconds: only when asked for
        alerting_rss.run()
    if "redaction" in which:
        redaction_cost.run()
    if "wire" in which:
        wire_costs.run()
    if "rss" in which:  # ten minutes by default: only when asked for
        hung_backends_rss.run()
    if "requests" in which:
        request_path.run()
    if "startup" in which:
        startup.run()


if __name__ == "__main__":
    main()
