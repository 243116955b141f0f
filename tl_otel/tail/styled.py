"""Text with styles, written once and shown twice: as plain text (a pipe, a file, the tests) or through rich
(a terminal). A style is a rich style name; plain text ignores it."""

from __future__ import annotations

Segment = tuple[str, str]  # (text, style)
Line = list[Segment]


def plain(line: Line) -> str:
    return "".join(text for text, _ in line).rstrip()
