"""``tl-otel``: operator commands.

    tl-otel alerts test    send a test notification to every configured alert channel and say which
                           succeeded (exit 0: all delivered, 1: one failed, 2: none configured)
"""

from __future__ import annotations

import argparse
import socket
import sys

from tl_otel.alerting.channels import Notification
from tl_otel.alerting.setup import build_channels
from tl_otel.settings import resolve


def alerts_test(timeout: float) -> int:
    settings = resolve()
    for problem in settings.problems:
        print(f"warning: {problem.message}", file=sys.stderr)
    channels, problems = build_channels(settings)
    for problem in problems:
        print(f"warning: {problem}", file=sys.stderr)
    if not channels:
        print("no alert channel is configured (TL_OTEL_ALERT_SLACK_WEBHOOK_URL, or TL_OTEL_SMTP_HOST with "
              "TL_OTEL_ALERT_EMAIL_TO)")
        return 2
    service = settings.service_name or "unknown_service"
    notification = Notification(f"[TEST] tl-otel alert test from {service} on {socket.gethostname()}",
                                "This is a test notification sent by `tl-otel alerts test`. Nothing is wrong.")
    for channel in channels:
        channel.attempts = 1
        channel.send(notification)
    failed = 0
    for channel in channels:
        channel.wait_idle(timeout)
        if channel.stats.sent:
            print(f"{channel.name}: delivered")
        else:
            failed += 1
            print(f"{channel.name}: FAILED ({channel.stats.last_error or 'no answer within the timeout'})")
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tl-otel")
    commands = parser.add_subparsers(dest="command", required=True)
    alerts = commands.add_parser("alerts", help="alert channels").add_subparsers(dest="action", required=True)
    test = alerts.add_parser("test", help="send a test notification to every configured channel")
    test.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for each channel")
    args = parser.parse_args(argv)
    if args.command == "alerts" and args.action == "test":
        return alerts_test(args.timeout)
    return 2


if __name__ == "__main__":
    sys.exit(main())
