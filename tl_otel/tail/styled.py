"""Text with styles, written once and shown twice: as plain text (a pipe, a file, the tests) or through rich
(a terminal). A style is a rich style name; plain text ignores it."""

from __future__ import annotations

import re

Segment = tuple[str, str]  # (text, style)
Line = list[Segment]

# Routes, messages and exception texts are the application's (and its clients') text: decoded from JSON, an
# escape sequence in them would drive the reader's terminal. Control characters are shown as U+FFFD.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def printable(text: str) -> str:
    return _CONTROL.sub("\ufffd", text)


def plain(line: Line) -> str:
    return printable("".join(text for text, _ in line)).rstrip()
