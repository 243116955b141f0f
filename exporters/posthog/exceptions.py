"""OTel exception recordings → PostHog ``$exception_list``, and recognising one occurrence recorded twice.

OTel carries exceptions as strings (``exception.type``, ``exception.message``, ``exception.stacktrace``,
the formatted Python traceback with its chain), so the list is parsed from the traceback text: one
entry per traceback block, outermost exception first, causes after it with ``mechanism.type =
"chained"`` and ``parent_id``, frames outermost first and the crashing frame last (PostHog's order).
"""

from __future__ import annotations

import os
import re
import sys
import sysconfig
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from tl_otel.app_thread.exception_context import is_own_frame

_FRAME = re.compile(r'^  File "(?P<path>[^"]+)", line (?P<line>\d+), in (?P<function>.+)$')
_CAUSE = "The above exception was the direct cause of the following exception:"
_CONTEXT = "During handling of the above exception, another exception occurred:"
_HEADER = "Traceback (most recent call last):"
_LIBRARY_MARKERS = ("site-packages", "dist-packages", "<frozen ", "<string>")
_STDLIB = tuple(filter(None, {sysconfig.get_paths().get("stdlib"), sysconfig.get_paths().get("platstdlib")}))
# The console scripts an installer writes (``/venv/bin/celery``: ``sys.exit(main())``) are not the application.
_SCRIPTS = tuple(sorted({os.path.join(folder, "") for folder in
                         filter(None, (sysconfig.get_paths().get("scripts"), os.path.dirname(sys.executable)))}))
MAX_FRAMES = 100


@dataclass(frozen=True)
class Block:
    type: str
    value: str
    frames: tuple[dict[str, Any], ...]
    source: str | None  # how the *next* block relates to this one: "cause", "context" or None


def _in_app(path: str) -> bool:
    return (not any(marker in path for marker in _LIBRARY_MARKERS) and not path.startswith(_STDLIB)
            and not path.startswith(_SCRIPTS))


def _where_it_happened(frames: list[dict[str, Any]]) -> None:
    """Only the application's frames where the exception happened stay ``in_app``: those below the last
    library frame that called back into the application's code. The application's frames above it (a
    ``manage.py`` that called ``uvicorn.run``, a ``main()`` that started the worker) started the server or
    worker that later ran the handler or task; they are the same in every error of the process."""
    callback = None
    seen_app = False
    for index in range(len(frames) - 1, -1, -1):
        if frames[index]["in_app"]:
            seen_app = True
        elif seen_app:
            callback = index
            break
    if callback is not None:
        for frame in frames[:callback]:
            frame["in_app"] = False


def _frames(lines: list[str]) -> tuple[list[dict[str, Any]], list[str]]:
    frames: list[dict[str, Any]] = []
    rest: list[str] = []
    index = 0
    while index < len(lines):
        match = _FRAME.match(lines[index])
        if match is None:
            line = lines[index]
            # What is left outside frames is the "Type: message" text (possibly several lines).
            if line.strip() and line != _HEADER and not line.startswith("    "):
                rest.append(line)
            index += 1
            continue
        path = match.group("path")
        if is_own_frame(path):  # tl-otel's wrappers (a logged traceback passes through them) are not the app's
            index += 1
            while index < len(lines) and lines[index].startswith("    ") and not _FRAME.match(lines[index]):
                index += 1
            continue
        frame: dict[str, Any] = {
            "platform": "python",
            "filename": path.rsplit("/", 1)[-1],
            "abs_path": path,
            "function": match.group("function"),
            "lineno": int(match.group("line")),
            "in_app": _in_app(path),
        }
        index += 1
        # The source line follows, indented; Python 3.11+ may add a line of ^~ markers under it.
        if index < len(lines) and lines[index].startswith("    ") and not _FRAME.match(lines[index]):
            frame["context_line"] = lines[index].strip()
            index += 1
            if index < len(lines) and set(lines[index].strip()) <= set("^~") and lines[index].strip():
                index += 1
        frames.append(frame)
    _where_it_happened(frames)
    if len(frames) > MAX_FRAMES:  # keep both ends: where it started and where it crashed
        frames = frames[: MAX_FRAMES // 2] + frames[-MAX_FRAMES // 2:]
    return frames, rest


def _type_and_value(rest: list[str]) -> tuple[str, str]:
    text = "\n".join(rest).strip()
    if not text:
        return "Exception", ""
    head, separator, tail = text.partition(": ")
    if separator and " " not in head:
        return head, tail
    return (text, "") if " " not in text else ("Exception", text)


def parse_traceback(text: str) -> list[Block]:
    """Blocks of a formatted traceback, in the order they are printed (innermost cause first)."""
    blocks: list[Block] = []
    current: list[str] = []
    for line in text.splitlines():
        if line in (_CAUSE, _CONTEXT):
            frames, rest = _frames(current)
            kind, value = _type_and_value(rest)
            blocks.append(Block(kind, value, tuple(frames), "cause" if line == _CAUSE else "context"))
            current = []
        else:
            current.append(line)
    frames, rest = _frames(current)
    kind, value = _type_and_value(rest)
    blocks.append(Block(kind, value, tuple(frames), None))
    return blocks


def split_type(exc_type: str) -> tuple[str | None, str]:
    """``package.module.Error`` → (``package.module``, ``Error``). The SDK records the qualified name on
    spans, Python's traceback prints it, the logging bridge may not: the short name is what PostHog shows."""
    module, _, name = exc_type.rpartition(".")
    return (module or None), name


def exception_list(exc_type: str, message: str, stacktrace: str, handled: bool) -> list[dict[str, Any]]:
    """PostHog's ``$exception_list`` for one recorded exception (its chain included)."""
    blocks = parse_traceback(stacktrace) if stacktrace else [Block(exc_type, message, (), None)]
    entries: list[dict[str, Any]] = []
    for position, block in enumerate(reversed(blocks)):
        outermost = position == 0
        # The recorded type/message are authoritative for the exception itself; its causes only exist in
        # the traceback text.
        module, name = split_type(exc_type if outermost and exc_type else block.type)
        entry: dict[str, Any] = {
            "type": name,
            "module": module,
            "value": message if outermost else block.value,
            "mechanism": {"handled": handled, "synthetic": False, "type": "generic" if outermost else "chained",
                          "exception_id": position},
        }
        if not outermost:
            entry["mechanism"]["parent_id"] = position - 1
            # blocks[-1 - position] is this cause; the separator after it says how it relates.
            entry["mechanism"]["source"] = blocks[len(blocks) - 1 - position].source or "cause"
        if block.frames:
            entry["stacktrace"] = {"type": "raw", "frames": list(block.frames)}
        entries.append(entry)
    return entries


def occurrence_key(trace_id: int, exc_type: str, message: str, stacktrace: str) -> tuple[Any, ...]:
    """What makes two recordings the same occurrence: the trace, the type, the message and where it was
    raised (the innermost frame). Recordings on the span that raised, on each span it escaped through and
    in an ERROR log with exc_info differ in how much stack they show, but not in that frame."""
    blocks = parse_traceback(stacktrace) if stacktrace else []
    last = blocks[-1].frames[-1] if blocks and blocks[-1].frames else {}
    return (trace_id, split_type(exc_type)[1], message, last.get("abs_path"), last.get("lineno"), last.get("function"))


class SeenOccurrences:
    """A bounded memory of occurrences already sent (first recorded wins: the innermost span ends first)."""

    def __init__(self, capacity: int = 10_000) -> None:
        self._seen: OrderedDict[tuple[Any, ...], None] = OrderedDict()
        self._capacity = capacity

    def first_time(self, key: tuple[Any, ...]) -> bool:
        if key in self._seen:
            self._seen.move_to_end(key)
            return False
        self._seen[key] = None
        if len(self._seen) > self._capacity:
            self._seen.popitem(last=False)
        return True
