"""Where ``tl-otel tail`` writes: plain text (stdout is not a terminal, or ``--plain``: stable, no escape codes)
or rich (a terminal: colour, and a live area at the bottom where traces still being assembled, or the ``--top``
table, are redrawn in place while finished blocks scroll above)."""

from __future__ import annotations

import sys
from typing import Any, TextIO

from tl_otel.tail.styled import Line, plain, printable

RICH_MISSING = ("tl-otel tail: the interactive view needs rich (pip install 'tl-otel[tail]'); "
                "writing plain text instead")


class PlainOutput:
    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stdout

    def passthrough(self, text: str) -> None:
        self.stream.write(text + "\n")

    def line(self, line: Line) -> None:
        self.stream.write(plain(line) + "\n")

    def block(self, lines: list[Line]) -> None:
        self.stream.write("".join(plain(line) + "\n" for line in lines) + "\n")

    def table(self, lines: list[Line], final: bool) -> None:
        self.block(lines)

    def pending(self, blocks: list[list[Line]]) -> None:
        return None  # a pipe cannot redraw: blocks are written once they are finished

    def flush(self) -> None:
        self.stream.flush()

    def close(self) -> None:
        self.flush()


class RichOutput:
    def __init__(self, force_terminal: bool = False) -> None:
        from rich.console import Console, Group
        from rich.live import Live
        from rich.text import Text

        self._text, self._group = Text, Group
        self.console = Console(highlight=False, soft_wrap=True, force_terminal=force_terminal or None)
        self.live = Live(console=self.console, auto_refresh=False, transient=True, redirect_stdout=False,
                         redirect_stderr=False)
        self.live.start()

    def _rich(self, line: Line) -> Any:
        return self._text.assemble(*[(printable(text), style or "") for text, style in line])

    def passthrough(self, text: str) -> None:
        self.console.print(self._text(text), soft_wrap=True)

    def line(self, line: Line) -> None:
        self.console.print(self._rich(line))

    def block(self, lines: list[Line]) -> None:
        self.console.print(self._group(*(self._rich(line) for line in lines), self._text("")))

    def table(self, lines: list[Line], final: bool) -> None:
        if final:
            self.live.update(self._text(""), refresh=True)
            self.block(lines)
        else:
            self.live.update(self._group(*(self._rich(line) for line in lines)), refresh=True)

    def pending(self, blocks: list[list[Line]]) -> None:
        shown = [self._rich(line) for block in blocks for line in [*block, [("", "")]]]
        self.live.update(self._group(*shown), refresh=True)

    def flush(self) -> None:
        return None

    def close(self) -> None:
        self.live.update(self._text(""), refresh=True)
        self.live.stop()


def open_output(mode: str, stream: TextIO | None = None) -> PlainOutput | RichOutput:
    """``mode``: ``auto`` (rich on a terminal), ``plain`` or ``live`` (rich even into a pipe)."""
    target = stream or sys.stdout
    if mode == "plain" or (mode == "auto" and not target.isatty()):
        return PlainOutput(target)
    try:
        return RichOutput(force_terminal=mode == "live")
    except ImportError:
        print(RICH_MISSING, file=sys.stderr)
        return PlainOutput(target)
