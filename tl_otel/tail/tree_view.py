"""One finished trace as a block: the root (route or task, status, duration), its spans as an indented tree with a
bar on the trace's shared time axis, each log line under the span that was current, and errors with their type,
message and the application frame that raised."""

from __future__ import annotations

import os
import re
from datetime import datetime, timezone

from tl_otel.tail.records import ROOT_KINDS, Record, is_alert, is_error
from tl_otel.tail.styled import Line
from tl_otel.tail.traces import Trace

BAR_WIDTH = 24
NAME_WIDTH = 46
_FRAME = re.compile(r'File "([^"]+)", line (\d+), in (\S+)')
_LIBRARY_PARTS = ("site-packages", "dist-packages", "/lib/python", "<frozen")
# Fields every line has, or that the tree already shows: the rest of a log line's fields are its extra= values.
_SHOWN = frozenset({
    "timestamp", "level", "type", "logger", "message", "trace_id", "span_id", "parent_span_id", "service.name",
    "process.pid", "code.file.path", "code.function.name", "code.line.number", "exception.type",
    "exception.message", "exception.stacktrace", "exception.escaped", "tl.redacted", "_start", "_end",
})
_EXTRA_CHARS = 100


def duration_text(ms: float | None) -> str:
    if ms is None:
        return ""
    if ms >= 1000:
        return f"{ms / 1000:.2f} s"
    if ms >= 10:
        return f"{ms:.1f} ms"
    return f"{ms:.2f} ms"


def clock_text(ns: int) -> str:
    moment = datetime.fromtimestamp(ns // 1_000_000_000, tz=timezone.utc)
    return f"{moment:%H:%M:%S}.{ns % 1_000_000_000 // 1_000_000:03d}"


def app_frame(record: Record) -> str | None:
    """The innermost frame of the application's own code in the exception's stack trace."""
    stack = record.get("exception.stacktrace") or record.get("code.stacktrace")
    if not isinstance(stack, str):
        return None
    frames = [match for match in _FRAME.findall(stack) if not any(part in match[0] for part in _LIBRARY_PARTS)]
    if not frames:
        return None
    path, line, function = frames[-1]
    return f"{short_path(path)}:{line} in {function}"


def short_path(path: str) -> str:
    cwd = os.getcwd() + os.sep
    if path.startswith(cwd):
        return path[len(cwd):]
    return "/".join(path.split("/")[-3:])


def status_text(record: Record) -> str:
    code = record.get("http.status_code", record.get("http.response.status_code"))
    if code is not None:
        return str(code)
    state = record.get("celery.state") or record.get("engine.status")
    if state:
        return str(state)
    return "error" if record.get("status") == "error" else "ok"


def _bar(start: int, end: int, t0: int, t1: int) -> str:
    width = max(t1 - t0, 1)
    first = min(BAR_WIDTH - 1, (start - t0) * BAR_WIDTH // width)
    last = max(first + 1, min(BAR_WIDTH, -(-(end - t0) * BAR_WIDTH // width)))
    return "·" * first + "━" * (last - first) + "·" * (BAR_WIDTH - last)


def _extras(record: Record) -> str:
    parts = []
    for key, value in record.items():
        if key in _SHOWN or key.startswith("alert."):
            continue
        text = value if isinstance(value, str) else str(value)
        parts.append(f"{key}={text[:40]}{'…' if len(text) > 40 else ''}")
    text = " ".join(parts)
    return text if len(text) <= _EXTRA_CHARS else text[:_EXTRA_CHARS - 1] + "…"


class TreeRenderer:
    def __init__(self) -> None:
        self._explained: set[tuple[str, str]] = set()

    def render(self, trace: Trace) -> list[Line]:
        self._explained = set()
        spans = {r["span_id"]: r for r in trace.records if r["type"] == "span" and isinstance(r.get("span_id"), str)}
        logs = sorted((r for r in trace.records if r["type"] == "log"), key=lambda r: r["_start"])
        children: dict[str | None, list[Record]] = {}
        for span in spans.values():
            parent = span.get("parent_span_id")
            children.setdefault(parent if parent in spans else None, []).append(span)
        for group in children.values():
            group.sort(key=lambda r: (r["_start"], str(r.get("message"))))
        logs_under: dict[str | None, list[Record]] = {}
        for log in logs:
            owner = log.get("span_id")
            logs_under.setdefault(owner if owner in spans else None, []).append(log)
        roots = children.get(None, [])
        timed = list(spans.values()) or trace.records
        t0 = min(r["_start"] for r in timed)
        t1 = max(r["_end"] for r in timed)
        lines = [self._header(trace, roots, t0, t1)]
        for log in logs_under.get(None, []):  # logged where no span line is (an internal span): trace level
            lines.extend(self._log(log, 1))
        for root in roots:
            self._span_tree(root, 1, None, children, logs_under, t0, t1, lines)
        if trace.dropped:
            lines.append([(f"  … {trace.dropped} more lines of this trace dropped (over --max-lines)", "yellow")])
        if trace.evicted:
            lines.append([("  … shown before it ended: more open traces than --max-traces", "yellow")])
        return lines

    def _header(self, trace: Trace, roots: list[Record], t0: int, t1: int) -> Line:
        failed = any(is_error(r) for r in trace.records)
        main = next((r for r in roots if r.get("span.kind") in ROOT_KINDS), roots[0] if roots else None)
        style = "bold red" if failed else "bold"
        mark = "✖" if failed else "▶"
        if trace.continuation is not None:
            head: Line = [(f"{mark} … {trace.continuation} continued".replace("  ", " "), style)]
        elif main is None:
            head = [(f"{mark} (no span line)", style)]
        else:
            head = [(f"{mark} {main.get('message')}", style), (f"  {status_text(main)}", "red" if failed else "green"),
                    (f"  {duration_text(main.get('duration_ms'))}", "cyan")]
        services = sorted({str(r.get("service.name")) for r in trace.records})
        head.append((f"  {', '.join(services)}  trace {trace.trace_id}  {clock_text(t0)}", "dim"))
        if len(services) > 1 or trace.continuation is not None:
            head.append((f"  (whole trace {duration_text((t1 - t0) / 1e6)})", "dim"))
        return head

    def _span_tree(self, span: Record, depth: int, parent: Record | None, children: dict[str | None, list[Record]],
                   logs_under: dict[str | None, list[Record]], t0: int, t1: int, lines: list[Line]) -> None:
        failed = span.get("status") == "error"
        name = "  " * depth + str(span.get("message"))
        if (parent is not None and parent.get("service.name") != span.get("service.name")) or (
                parent is None and depth == 1 and span.get("span.kind") in ROOT_KINDS):
            name += f" [{span.get('service.name')}]"
        name = name if len(name) <= NAME_WIDTH else name[:NAME_WIDTH - 1] + "…"
        kind = str(span.get("span.kind", ""))
        lines.append([(f"{name:<{NAME_WIDTH}} ", "red" if failed else ""), (f"{kind:<8} ", "dim"),
                      (_bar(span["_start"], span["_end"], t0, t1), "red" if failed else "blue"),
                      (f" {duration_text(span.get('duration_ms')):>9}", "cyan"),
                      (f"  {status_text(span)}" if failed or kind in ROOT_KINDS else "", "red" if failed else "")])
        if span.get("db.statement"):
            lines.append([("  " * (depth + 2) + str(span["db.statement"])[:100], "dim")])
        lines.extend(self._exception(span, depth + 1))
        # log lines and child spans in the order they happened
        under = [(log["_start"], 0, log) for log in logs_under.get(span["span_id"], [])]
        under += [(child["_start"], 1, child) for child in children.get(span["span_id"], [])]
        for _, is_span, item in sorted(under, key=lambda entry: (entry[0], entry[1])):
            if is_span:
                self._span_tree(item, depth + 1, span, children, logs_under, t0, t1, lines)
            else:
                lines.extend(self._log(item, depth + 1))

    def _log(self, log: Record, depth: int) -> list[Line]:
        level = str(log.get("level"))
        style = {"ERROR": "red", "CRITICAL": "bold red", "WARNING": "yellow", "DEBUG": "dim"}.get(level, "")
        extras = _extras(log)
        line: Line = [("  " * depth + f"· {clock_text(log['_start'])} ", "dim"), (f"{level:<7} ", style),
                      (str(log.get("message")), style)]
        if extras:
            line.append((f"  {extras}", "dim"))
        return [line, *self._exception(log, depth + 1)]

    def _exception(self, record: Record, depth: int) -> list[Line]:
        kind, message = record.get("exception.type"), record.get("exception.message")
        if not kind:
            return []
        key = (str(kind), str(message))
        if key in self._explained:
            return []
        self._explained.add(key)
        lines = [[("  " * depth + f"✖ {kind}: {message}", "bold red")]]
        frame = app_frame(record)
        if frame:
            lines.append([("  " * depth + f"  at {frame}", "red")])
        return lines


def render_line(record: Record) -> Line:
    """A line outside any trace: an alert stands out; other log lines are one line each."""
    if is_alert(record):
        state = str(record.get("alert.state", "")).upper()
        firing = state.startswith("FIRING")
        return [(f"{'▲ ALERT FIRING' if firing else '▼ ALERT RESOLVED'} ", "bold white on red" if firing
                 else "bold white on green"),
                (f" {record.get('alert.summary') or record.get('message')}", "bold red" if firing else "green"),
                (f"  {record.get('service.name')} {clock_text(record['_start'])}", "dim")]
    level = str(record.get("level"))
    style = {"ERROR": "red", "CRITICAL": "bold red", "WARNING": "yellow", "DEBUG": "dim"}.get(level, "")
    line: Line = [(f"{clock_text(record['_start'])} ", "dim"), (f"{level:<7} ", style),
                  (f"{record.get('service.name')} ", "magenta"), (str(record.get("message")), style)]
    extras = _extras(record)
    if extras:
        line.append((f"  {extras}", "dim"))
    if record.get("exception.type"):
        line.append((f"  ✖ {record.get('exception.type')}: {record.get('exception.message')}", "red"))
        frame = app_frame(record)
        if frame:
            line.append((f" at {frame}", "red"))
    return line
