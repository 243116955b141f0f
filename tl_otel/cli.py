"""``tl-otel``: operator commands.

    tl-otel doctor [--json] [--send] [-- COMMAND...]
                           the effective configuration with the source of every value, the
                           instrumentations the launcher would load, a check of every configured
                           destination (exit 1 when one fails), advice for the server COMMAND
    tl-otel alerts test    send a test notification to every configured alert channel and say which
                           succeeded (exit 0: all delivered, 1: one failed, 2: none configured)
    tl-otel dashboard posthog [--dry-run]
                           create or update tl-otel's PostHog dashboard (by name) through PostHog's API
    tl-otel tail [FILE ...] [--top] [--errors] [--slow MS] [--route P] [--trace ID] [--service N] [-- COMMAND...]
                           tl-otel's JSON lines for a person: request trees as they end, or a per-route table
                           (docs/tail.md)
"""

from __future__ import annotations

import argparse
import os
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
    argv = list(sys.argv[1:] if argv is None else argv)
    command: list[str] = []
    if argv[:1] == ["tail"] and "--" in argv:  # `tl-otel tail -- uvicorn app:app`: the rest is the command
        at = argv.index("--")
        argv, command = argv[:at], argv[at + 1:]
    parser = argparse.ArgumentParser(prog="tl-otel")
    commands = parser.add_subparsers(dest="command", required=True)
    alerts = commands.add_parser("alerts", help="alert channels").add_subparsers(dest="action", required=True)
    test = alerts.add_parser("test", help="send a test notification to every configured channel")
    test.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for each channel")
    doctor = commands.add_parser("doctor", help="check the configuration and every destination")
    doctor.add_argument("--json", action="store_true", help="machine-readable output")
    doctor.add_argument("--send", action="store_true", help="also send one probe span and log through each destination")
    doctor.add_argument("--timeout", type=float, default=5.0, help="seconds each check may take")
    doctor.add_argument("server_command", nargs=argparse.REMAINDER,
                        help="after --: the command tl-otel will run under, for advice on its process model")
    dashboard = commands.add_parser("dashboard", help="dashboards as code").add_subparsers(dest="action", required=True)
    posthog_dashboard = dashboard.add_parser("posthog", help="create or update the PostHog dashboard")
    posthog_dashboard.add_argument("--dry-run", action="store_true", help="print the definition, call nothing")
    from tl_otel.tail.command import add_arguments as add_tail_arguments

    add_tail_arguments(commands.add_parser("tail", help="tl-otel's JSON lines as request trees or a per-route table"))
    args = parser.parse_args(argv)
    args.tail_command = command
    try:
        return _run(args)
    except BrokenPipeError:
        # The reader went away (`tl-otel doctor | head -1`, `| grep -q`): stop writing, as command-line tools do,
        # without a traceback; stdout is pointed at /dev/null so the interpreter's last flush cannot fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141  # 128 + SIGPIPE, what a shell reports for a command its reader closed


def _run(args: argparse.Namespace) -> int:
    if args.command == "alerts" and args.action == "test":
        return alerts_test(args.timeout)
    if args.command == "doctor":
        from tl_otel.doctor.report import main as doctor_main

        command = [part for part in args.server_command if part != "--"]
        return doctor_main(command, args.timeout, args.send, args.json)
    if args.command == "dashboard" and args.action == "posthog":
        from tl_otel.dashboards.posthog import main as dashboard_main

        return dashboard_main(dry_run=args.dry_run)
    if args.command == "tail":
        from tl_otel.tail.command import run as tail_run

        return tail_run(args, args.tail_command)
    return 2


if __name__ == "__main__":
    sys.exit(main())
