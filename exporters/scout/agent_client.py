"""A client for Scout's core agent: 4-byte big-endian length + JSON frames over a Unix or TCP socket.

What it does better than scout_apm's ``CoreAgentSocketThread`` (reference: scout.md §1.2):
- ``Register`` and the ``scout.metadata`` event on every (re)connect, and every reply is read and checked;
- reconnects with capped exponential backoff and jitter for as long as needed (scout's thread gives up
  after 5 attempts until the next send), never a busy loop;
- a frame that failed to send stays queued and is sent after the reconnect; a frame whose reply never
  came is counted as unacknowledged (re-sending it could duplicate the request);
- a bounded queue whose drops are counted and warned about (scout logs them at DEBUG);
- ``CPU/Utilization`` and ``Memory/Physical`` every 60 s, with CPU computed over the interval (scout's
  sampler divides cumulative CPU time by the last interval);
- launching the core agent through scout_apm's own manager happens on this thread, never on the
  application's start-up path;
- after a fork the child starts with no socket, an empty queue, new locks and its own thread.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import random
import resource
import socket
import struct
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

from opentelemetry.context import _SUPPRESS_INSTRUMENTATION_KEY, attach, detach, set_value
from scout_apm.core.agent.commands import ApplicationEvent, Register

from tl_otel.self_log import RateLimitedLog, adopt, logger

adopt("scout_apm")  # its INFO lines ("Registering with app=…") stay out of the application's output
_rate_limited = RateLimitedLog()
SAMPLER_INTERVAL = 60.0


@dataclass
class AgentStats:
    sent: int = 0
    acknowledged: int = 0
    failures: int = 0
    unacknowledged: int = 0
    dropped_queue_full: int = 0
    connects: int = 0
    connect_failures: int = 0


class SendFailed(Exception):
    pass


class NoReply(Exception):
    pass


def encode(message: dict[str, Any]) -> bytes:
    payload = json.dumps(message, separators=(", ", ": ")).encode("utf-8")
    return struct.pack(">I", len(payload)) + payload  # the byte length, not the character count


def _address(path: str) -> tuple[int, Any]:
    if path.startswith("tcp://"):
        host, _, port = path[len("tcp://"):].rpartition(":")
        return socket.AF_INET, (host or "127.0.0.1", int(port))
    return socket.AF_UNIX, path


class CpuSampler:
    """CPU of this process over the last interval, as a percentage of all cores."""

    def __init__(self) -> None:
        self._last = (time.monotonic(), self._cpu())

    @staticmethod
    def _cpu() -> float:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime

    def sample(self) -> float:
        now, cpu = time.monotonic(), self._cpu()
        last_now, last_cpu = self._last
        self._last = (now, cpu)
        wall = now - last_now
        return 0.0 if wall <= 0 else round((cpu - last_cpu) / wall / (os.cpu_count() or 1) * 100.0, 3)


def memory_mb() -> float:
    try:
        with open("/proc/self/statm") as statm:
            return round(int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1024 / 1024, 3)
    except OSError:
        return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 3)


class CoreAgentClient:
    def __init__(self, socket_path: str, app: str, key: str, hostname: str | None, *, timeout: float = 3.0,
                 queue_size: int = 500, launch: bool = False, backoff_cap: float = 30.0,
                 sampler_interval: float = SAMPLER_INTERVAL) -> None:
        self.socket_path = socket_path
        self.app, self._key, self.hostname = app, key, hostname
        self.timeout = timeout
        self.queue_size = queue_size
        self.launch = launch
        self.backoff_cap = backoff_cap
        self.sampler_interval = sampler_interval
        self.stats = AgentStats()
        self._init_state()
        os.register_at_fork(after_in_child=self._init_state)

    def _init_state(self) -> None:
        old = getattr(self, "_socket", None)
        if old is not None:
            with contextlib.suppress(OSError):
                old.close()  # closes this process's copy of an inherited descriptor only
        self._socket: socket.socket | None = None
        self._mute = False
        self._frames: deque[bytes] = deque()
        self._cond = threading.Condition(threading.Lock())
        self._in_flight = False
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._failures_in_a_row = 0
        self._unreachable = False  # the last connection attempt failed
        self._launch_tried = False
        self._cpu = CpuSampler()
        self._next_sample = time.monotonic() + self.sampler_interval

    # -- producer side ----------------------------------------------------------------------------
    def send(self, message: dict[str, Any]) -> bool:
        frame = encode(message)
        with self._cond:
            if self._stopping:
                return False
            if len(self._frames) >= self.queue_size:
                self.stats.dropped_queue_full += 1
                full = True
            else:
                self._frames.append(frame)
                self._cond.notify()
                full = False
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="tl-otel-scout-agent", daemon=True)
                self._thread.start()
        if full:
            _rate_limited.warning("scout-queue-full", "Scout core agent queue full (%d frames): dropping; "
                                  "%d dropped so far", self.queue_size, self.stats.dropped_queue_full)
        return not full

    def flush(self, timeout: float) -> bool:
        """Wait until every queued frame was sent, up to ``timeout``. While the agent is unreachable it
        returns at once: waiting out the whole shutdown budget for an absent agent would only delay exit."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._frames or self._in_flight:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._unreachable:
                    return False
                self._cond.wait(min(remaining, 0.1))
        return True

    def close(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        self._disconnect()

    # -- connection --------------------------------------------------------------------------------
    def _disconnect(self) -> None:
        sock, self._socket = self._socket, None
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.close()

    def _exchange(self, frame: bytes) -> None:
        """Send one frame and read its reply.

        Raises ``SendFailed`` when the frame did not go out (it may be sent again) and ``NoReply`` when it
        went out but no reply came (re-sending could duplicate it). On a connection whose agent has not
        replied within the timeout once, frames are sent without waiting: a mute agent costs one
        timeout per connection, not one per frame."""
        assert self._socket is not None
        try:
            if self._mute:
                self._discard_pending_replies()
            self._socket.sendall(frame)
        except OSError as exc:
            raise SendFailed(type(exc).__name__) from None
        self.stats.sent += 1
        if self._mute:
            self.stats.unacknowledged += 1
            return
        try:
            header = self._recv_exactly(4)
            body = self._recv_exactly(struct.unpack(">I", header)[0])
        except TimeoutError:
            self._mute = True
            self.stats.unacknowledged += 1
            _rate_limited.warning("scout-noreply", "Scout core agent at %s did not reply within %.1fs; sending "
                                  "without waiting for replies on this connection", self.socket_path, self.timeout)
            return
        except OSError as exc:
            self.stats.unacknowledged += 1
            raise NoReply(type(exc).__name__) from None
        self._check_reply(body)

    def _discard_pending_replies(self) -> None:
        assert self._socket is not None
        self._socket.setblocking(False)
        try:
            while self._socket.recv(65536):
                pass
        except (BlockingIOError, InterruptedError):
            pass
        finally:
            self._socket.settimeout(self.timeout)

    def _check_reply(self, body: bytes) -> None:
        try:
            reply = json.loads(body or b"{}")
        except ValueError:
            reply = {"Failure": {"message": "unparseable reply"}}
        result = next(iter(reply.values()), {}) if isinstance(reply, dict) else {}
        failed = "Failure" in reply or (isinstance(result, dict) and isinstance(result.get("result"), dict)
                                         and "Failure" in result["result"])
        if failed:
            self.stats.failures += 1
            _rate_limited.warning("scout-failure", "Scout core agent answered Failure: %s", str(reply)[:300])
        else:
            self.stats.acknowledged += 1

    def _recv_exactly(self, size: int) -> bytes:
        assert self._socket is not None
        chunks, received = [], 0
        while received < size:
            chunk = self._socket.recv(size - received)
            if not chunk:
                raise ConnectionError("core agent closed the connection")
            chunks.append(chunk)
            received += len(chunk)
        return b"".join(chunks)

    def _connect(self) -> bool:
        family, address = _address(self.socket_path)
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(address)
        except OSError as exc:
            sock.close()
            self.stats.connect_failures += 1
            self._unreachable = True
            self._maybe_launch(exc)
            return False
        self._socket = sock
        self._mute = False
        try:
            self._exchange(encode(Register(self.app, self._key, self.hostname).message()))
            self._exchange(encode(self._metadata()))
        except (SendFailed, NoReply) as exc:
            self._disconnect()
            self.stats.connect_failures += 1
            _rate_limited.warning("scout-register", "Scout core agent at %s: Register failed (%s)",
                                  self.socket_path, exc)
            return False
        self.stats.connects += 1
        self._unreachable = False
        if self._failures_in_a_row:
            logger.info("connected to the Scout core agent at %s", self.socket_path)
        self._failures_in_a_row = 0
        return True

    def _metadata(self) -> dict[str, Any]:
        from scout_apm.core.metadata import get_metadata

        try:
            value = get_metadata()
        except Exception:
            value = {"language": "python"}
        return ApplicationEvent("scout.metadata", value, f"Pid: {os.getpid()}", dt.datetime.now(dt.timezone.utc)
                                ).message()

    def _maybe_launch(self, error: OSError) -> None:
        if self._launch_tried:
            return
        self._launch_tried = True
        if not self.launch:
            logger.warning("Scout core agent not reachable at %s (%s); core agent launch is off "
                           "(SCOUT_CORE_AGENT_LAUNCH); will keep trying to connect", self.socket_path,
                           type(error).__name__)
            return

        def launch() -> None:
            # scout_apm logs its own download failure with a traceback: keep that out of the pipeline.
            token = attach(set_value(_SUPPRESS_INSTRUMENTATION_KEY, True))
            try:
                from scout_apm.core.agent.manager import CoreAgentManager

                launched = CoreAgentManager().launch()
            except Exception as exc:
                launched = False
                reason = f"{type(exc).__name__}: {exc}"
            else:
                reason = "the core agent could not be downloaded or verified"
            finally:
                detach(token)
            if not launched:
                logger.warning("Scout core agent not reachable at %s and not launched (%s); will keep trying "
                               "to connect", self.socket_path, reason)

        threading.Thread(target=launch, name="tl-otel-scout-launch", daemon=True).start()

    def _backoff(self) -> float:
        self._failures_in_a_row += 1
        return min(self.backoff_cap, 2 ** (self._failures_in_a_row - 1)) * random.uniform(0.8, 1.2)

    # -- sender thread -----------------------------------------------------------------------------
    def _run(self) -> None:
        token = attach(set_value(_SUPPRESS_INSTRUMENTATION_KEY, True))
        try:
            self._loop()
        finally:
            detach(token)

    def _loop(self) -> None:
        retry_at = 0.0
        while True:
            with self._cond:
                while not self._stopping:
                    now = time.monotonic()
                    if self._frames and now >= retry_at:
                        break
                    if now >= self._next_sample:
                        break
                    wake = min(self._next_sample, retry_at if self._frames else self._next_sample)
                    self._cond.wait(max(0.01, wake - now))
                if self._stopping:
                    return
            if time.monotonic() >= self._next_sample:
                self._queue_samples()
            if self._socket is None and not self._connect():
                retry_at = time.monotonic() + self._backoff()
                continue
            self._drain()
            if self._socket is None:
                retry_at = time.monotonic() + self._backoff()

    def _queue_samples(self) -> None:
        self._next_sample = time.monotonic() + self.sampler_interval
        now, source = dt.datetime.now(dt.timezone.utc), f"Pid: {os.getpid()}"
        for kind, value in (("CPU/Utilization", self._cpu.sample()), ("Memory/Physical", memory_mb())):
            with self._cond:
                if len(self._frames) < self.queue_size:
                    self._frames.append(encode(ApplicationEvent(kind, value, source, now).message()))

    def _drain(self) -> None:
        while True:
            with self._cond:
                if not self._frames or self._stopping:
                    self._cond.notify_all()
                    return
                frame = self._frames[0]
                self._in_flight = True
            try:
                self._exchange(frame)
            except NoReply:
                # It went out but the connection broke before the reply: not re-sent (it could duplicate).
                self._pop(frame)
                self._disconnect()
                return
            except SendFailed:
                # Not (fully) sent: it stays first in the queue for the next connection.
                with self._cond:
                    self._in_flight = False
                    self._cond.notify_all()
                self._disconnect()
                return
            self._pop(frame)

    def _pop(self, frame: bytes) -> None:
        with self._cond:
            if self._frames and self._frames[0] is frame:
                self._frames.popleft()
            self._in_flight = False
            self._cond.notify_all()
