"""``tl-otel tail``: the arguments, and the loop that feeds input lines to the session.

    tl-otel tail [FILE ...]          follow files as they grow (stdin when none is given)
    tl-otel tail --once FILE ...     read files to their end (several: merged in time order), show everything, exit
    tl-otel tail -- COMMAND ...      run COMMAND and read its stdout and stderr; exit with its status
"""

from __future__ import annotations

import argparse
import sys
import time

from tl_otel.tail.filters import Filters
from tl_otel.tail.output import open_output
from tl_otel.tail.session import TailSession
from tl_otel.tail.sources import LiveInput, read_files_merged
from tl_otel.tail.top_table import TopTable
from tl_otel.tail.traces import TraceBuffer

REDRAW_S = 0.25


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("files", nargs="*", metavar="FILE", help="files to follow (default: stdin)")
    parser.add_argument("--once", action="store_true", help="read the files to their end and exit (no following)")
    parser.add_argument("--top", action="store_true", help="a table per route and task, refreshed every second")
    parser.add_argument("--errors", action="store_true", help="only traces with an error")
    parser.add_argument("--slow", type=float, metavar="MS", help="only traces whose request or task took MS or more")
    parser.add_argument("--route", metavar="PATTERN", help="only these routes or tasks (a glob: 'POST /exec*')")
    parser.add_argument("--trace", metavar="ID", help="only this trace (a prefix of its id is enough)")
    parser.add_argument("--service", metavar="NAME", help="only traces that touch this service (a glob)")
    parser.add_argument("--view", choices=("auto", "plain", "live"), default="auto",
                        help="auto: rich in a terminal, plain text otherwise")
    parser.add_argument("--linger", type=float, default=2.0, metavar="S",
                        help="how long a finished trace waits for late lines (another process, the worker)")
    parser.add_argument("--max-traces", type=int, default=500, help="open traces kept at most (oldest shown first)")
    parser.add_argument("--max-lines", type=int, default=500, help="lines kept per trace (later ones dropped)")
    parser.add_argument("--window", type=float, metavar="S",
                        help="--top window (default: TL_OTEL_ALERT_WINDOW_S, as the alert rules)")


def run(args: argparse.Namespace, command: list[str]) -> int:
    from tl_otel.settings import resolve

    for name, value, accepted in (("--linger", args.linger, "a number of seconds ≥ 0"),
                                  ("--max-traces", args.max_traces, "a whole number ≥ 1"),
                                  ("--max-lines", args.max_lines, "a whole number ≥ 1")):
        if value < (0 if name == "--linger" else 1):
            print(f"tl-otel tail: {name} {value} is not accepted: {accepted}", file=sys.stderr)
            return 2
    filters = Filters(args.errors, args.slow, args.route, args.trace, args.service)
    top = None
    if args.top:
        settings = resolve()
        for problem in settings.problems:  # the thresholds come from the alert settings: say what was not taken
            print(f"warning: {problem.message}", file=sys.stderr)
        top = TopTable(args.window or settings.alert_window_s, settings.alert_error_rate, settings.alert_latency_ms,
                       filters)
    output = open_output(args.view)
    session = TailSession(output, TraceBuffer(args.linger, args.max_traces, args.max_lines), filters, top)
    status = 0
    try:
        if args.once:
            _read_once(session, args.files)
        else:
            status = _read_live(session, args, command)
    except KeyboardInterrupt:
        status = 130
    finally:
        session.finish()
    return status


def _read_once(session: TailSession, paths: list[str]) -> None:
    """Files to their end, merged in time order; readiness on the stream's own clock alone, so the same files give
    the same blocks each time."""
    for line in read_files_merged(paths or ["/dev/stdin"]):
        session.feed(line, 0.0)
        session.tick(None)


def _read_live(session: TailSession, args: argparse.Namespace, command: list[str]) -> int | None:
    live = LiveInput()
    if command:
        live.add_command(command)
    elif args.files:
        live.add_files(args.files)
    else:
        live.add_stdin()
    last_redraw = 0.0
    try:
        for batch in live.batches(wait_s=min(REDRAW_S, max(args.linger, 0.05))):
            now = time.monotonic()
            for line in batch or ():
                session.feed(line, now)
            session.tick(now)
            if now - last_redraw >= (1.0 if args.top else REDRAW_S):
                session.redraw()
                last_redraw = now
            session.output.flush()
    finally:
        code = live.close()
    if code is not None and code < 0:
        return 128 - code  # ended by a signal: the status a shell reports for it
    return code or 0
