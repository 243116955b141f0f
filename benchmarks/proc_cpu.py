"""CPU time of a running process from /proc: the whole process (utime + stime, which keeps the time of threads
that have exited) and each live thread, so a benchmark can say which threads spent it."""

from __future__ import annotations

import os
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")


def _seconds(stat: str) -> float:
    fields = stat.rsplit(")", 1)[1].split()  # the name in parentheses may contain spaces
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime


def process_seconds(pid: int) -> float:
    return _seconds(Path(f"/proc/{pid}/stat").read_text())


def thread_seconds(pid: int) -> dict[int, tuple[str, float]]:
    """Each live thread's OS name (comm) and CPU seconds, by thread id."""
    threads = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            threads[int(task.name)] = ((task / "comm").read_text().strip(), _seconds((task / "stat").read_text()))
        except (FileNotFoundError, ProcessLookupError):
            continue  # exited between the listing and the read
    return threads


def snapshot(pid: int) -> tuple[float, dict[int, tuple[str, float]]]:
    return process_seconds(pid), thread_seconds(pid)
