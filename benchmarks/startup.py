"""``./run bench startup``: time from starting the server process to its first 200 response, for the plain
app, the upstream launcher (``opentelemetry-instrument`` with upstream's default distro and the SDK's
configurator, no exporter) and tl-otel's launcher (JSON exporters, alerting on), each with the same installed
instrumentations. Variants are interleaved round by round; medians are reported, with tl-otel's extra over
upstream. The machine is shared: read the figures as measured there, not as a pass/fail."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from examples.processes import BIN, REPO, free_port, stop_process

TICKS = os.sysconf("SC_CLK_TCK")

APP = "benchmarks.service_app:app"


def variants(port: int) -> dict[str, tuple[list[str], dict[str, str]]]:
    uvicorn = [str(BIN / "uvicorn"), APP, "--host", "127.0.0.1", "--port", str(port),
               "--log-level", "warning", "--no-access-log"]
    launcher = str(BIN / "opentelemetry-instrument")
    # No distro or configurator by that name: the launcher falls back to upstream's DefaultDistro and loads no
    # configurator; benchmarks.upstream_serve then configures the SDK as opentelemetry-distro would.
    upstream_env = {"OTEL_PYTHON_DISTRO": "upstream-default", "OTEL_PYTHON_CONFIGURATOR": "upstream-sdk"}
    return {
        "plain": (uvicorn, {}),
        "upstream launcher": ([launcher, sys.executable, "-m", "benchmarks.upstream_serve", APP, str(port)],
                              upstream_env),
        "tl-otel launcher": ([launcher, *uvicorn], {}),
    }


def time_to_first_200(command: list[str], port: int, extra_env: dict[str, str],
                      timeout: float = 60.0) -> tuple[float, float]:
    """(wall seconds, server CPU seconds) from the start of the process to its first 200 response. The CPU
    time is the steadier figure on a shared machine: waiting for a core does not count in it."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("OTEL_", "TL_OTEL_"))}
    # As installed: a wheel's modules are byte-compiled, this checkout's only if Python may write .pyc files.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.update(PYTHONPATH=str(REPO), OTEL_SERVICE_NAME="bench-startup", OTEL_METRICS_EXPORTER="none",
               TL_OTEL_ALERT_STORE="process", **extra_env)
    url = f"http://127.0.0.1:{port}/items/1"
    started = time.perf_counter()
    server = subprocess.Popen(command, env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while time.perf_counter() - started < timeout:
            try:
                with urllib.request.urlopen(url, timeout=1) as response:
                    if response.status == 200:
                        return time.perf_counter() - started, cpu_seconds(server.pid)
            except (OSError, urllib.error.URLError):
                pass
            if server.poll() is not None:
                raise RuntimeError(f"{command[0]} exited with {server.returncode}")
            time.sleep(0.005)
        raise TimeoutError(f"no 200 from {command} within {timeout}s")
    finally:
        stop_process(server)


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime (the launcher execs: same pid)


def run(rounds: int = 12) -> dict[str, float]:
    port = free_port()
    commands = variants(port)
    for command, extra in commands.values():  # warm the page cache and .pyc files, not measured
        time_to_first_200(command, port, extra)
    seconds: dict[str, list[float]] = {name: [] for name in commands}
    cpu: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(rounds):
        for name, (command, extra) in commands.items():
            wall, used = time_to_first_200(command, port, extra)
            seconds[name].append(wall)
            cpu[name].append(used)
    medians = {name: statistics.median(values) for name, values in seconds.items()}
    cpu_medians = {name: statistics.median(values) for name, values in cpu.items()}
    print(f"\nstart-up: time to the first 200 response, median of {rounds} interleaved runs (shared machine)")
    for name, values in seconds.items():
        print(f"  {name:18s} {medians[name] * 1000:7.0f} ms   (min {min(values) * 1000:.0f}, "
              f"max {max(values) * 1000:.0f})   server CPU {cpu_medians[name] * 1000:5.0f} ms")

    def extra(figures: dict[str, list[float]]) -> float:
        return statistics.median(t - u for t, u in zip(figures["tl-otel launcher"], figures["upstream launcher"],
                                                       strict=True)) * 1000

    print(f"  tl-otel over upstream (median of paired differences): {extra(seconds):+.0f} ms wall, "
          f"{extra(cpu):+.0f} ms CPU")
    return medians


if __name__ == "__main__":
    run(int(sys.argv[1]) if len(sys.argv) > 1 else 12)
