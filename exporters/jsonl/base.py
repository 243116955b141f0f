"""What the three JSON exporters share: their settings and the writer they write through."""

from __future__ import annotations

import logging
from typing import Any

from tl_otel.exporters.jsonl.stream import LineWriter, WriteOutcome, shared_writer

_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING,
           "error": logging.ERROR, "critical": logging.CRITICAL}
_EVERYTHING_TO_STDOUT = 10_000


class JsonLinesOptions:
    def __init__(
        self,
        max_value_length: int = 16384,
        stderr_level: str = "off",
        writer: LineWriter | None = None,
        all_spans: bool = False,
    ) -> None:
        self.max_value_length = max_value_length
        self.stderr_levelno = _LEVELS.get(stderr_level, _EVERYTHING_TO_STDOUT)
        self.writer = writer or shared_writer()
        self.all_spans = all_spans

    @classmethod
    def from_settings(cls, settings: Any) -> JsonLinesOptions:
        return cls(settings.json_max_value_length, settings.json_stderr_level,
                   all_spans=settings.json_all_spans)

    @classmethod
    def from_environment(cls) -> JsonLinesOptions:
        # Built without tl_otel.configure() (e.g. by another configurator): read the same settings.
        from tl_otel.settings import resolve

        return cls.from_settings(resolve())

    def write(self, lines: list[tuple[int, bytes]]) -> WriteOutcome:
        return self.writer.write(lines, self.stderr_levelno)


class LineExporter:
    """The export loop shared by the span and log exporters: one line per item that ``_line`` accepts,
    one write per batch, and an item that cannot be encoded costs only itself."""

    options: JsonLinesOptions
    _shut_down: bool = False
    # Lines lost after their export was handed over, by reason (cumulative): the destination counts these
    # items as failed, not exported (tl_otel.pipeline.destination, ``losses_after_export``).
    _lost: dict[str, int] | None = None

    def _line(self, item: Any) -> tuple[int, bytes] | None:
        raise NotImplementedError

    def _write_batch(self, batch: Any) -> bool:
        if self._shut_down:
            return False
        lines = []
        for item in batch:
            try:
                line = self._line(item)
            except Exception:
                continue
            if line is not None:
                lines.append(line)
        # A writer that says nothing of what it lost (an options subclass collecting lines) lost nothing.
        reported = getattr(self.options.write(lines), "lost", None)
        if reported:
            lost = self._lost if self._lost is not None else {}
            for reason, count in reported.items():
                lost[reason] = lost.get(reason, 0) + count
            self._lost = lost
        return True

    def losses_after_export(self) -> dict[str, int]:
        return dict(self._lost or {})

    def shutdown(self) -> None:
        self._shut_down = True

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True
