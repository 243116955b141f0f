"""A client for Scout's core agent: 4-byte big-endian length + JSON frames over a Unix or TCP socket.

What it does better than scout_apm's ``CoreAgentSocketThread`` (reference: scout.md §1.2):
- one ``BatchCommand`` frame per request, as scout_apm sends them, written as they come (several frames per
  write when they queue up) while a reader thread consumes the replies: no blocking round trip per request
  (scout's thread reads each reply before sending the next frame);
- ``Register`` and the ``scout.metadata`` event on every (re)connect, and every reply is read and checked;
- reconnects with capped exponential backoff and jitter for as long as needed (scout's thread gives up
  after 5 attempts until the next send), never a busy loop;
- a frame that failed to send stays queued and is sent after the reconnect; a frame whose reply never
  came is counted as unacknowledged (re-sending it could duplicate the request);
- a queue bounded in requests (CPU/memory events have slots of their own) whose drops are counted and
  warned about (scout logs them at DEBUG);
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

try:
    import orjson
except ImportError:  # json writes the frames instead
    orjson = None  # type: ignore[assignment]
from scout_apm.core.agent.commands import ApplicationEvent, Register

from tl_otel.diagnostics.self_log import RateLimitedLog, adopt, logger

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
    # The same losses counted in the items each request frame carries (spans, for the exporter): what the
    # exporter's destination must not count as exported.
    unacknowledged_items: int = 0
    dropped_queue_full_items: int = 0
    unsent_at_close_items: int = 0
    connects: int = 0
    connect_failures: int = 0


class SendFailed(Exception):
    pass


class NoReply(Exception):
    pass


def encode(message: dict[str, Any]) -> bytes:
    """One frame. orjson writes a request in about 2 µs where ``json`` takes about 24; its UTF-8 output (not
    ASCII escapes) is what Scout's Node agent sends the same core agent. What orjson refuses (integers beyond
    64 bits, lone surrogates) goes through ``json``."""
    payload = None
    if orjson is not None:
        try:
            payload = orjson.dumps(message)
        except TypeError:  # orjson.JSONEncodeError
            payload = None
    if payload is None:
        payload = json.dumps(message, separators=(", ", ": ")).encode("utf-8")
    return struct.pack(">I", len(payload)) + payload  # the byte length, not the character count


def socket_address(path: str) -> tuple[int, Any]:
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


MAX_WRITE_BYTES = 256 * 1024  # frames joined into one write, up to this much
SAMPLE_SLOTS = 8  # CPU/memory events waiting while the agent is away: a few, apart from the requests


class Connection:
    """One socket to the core agent and the replies it still owes. The agent answers frames in the order it
    received them, so the replies owed are a queue of (send time, items the frame carries), consumed from the
    left by the reader."""

    def __init__(self, sock: socket.socket) -> None:
        self.socket = sock
        self.owed: deque[tuple[float, int]] = deque()
        self.mute = False  # no reply came within the timeout once: replies are no longer awaited
        self.broken = False  # closed by the agent, an error, or ourselves: never written to again
        self.reader: threading.Thread | None = None


class CoreAgentClient:
    """Frames are written as they come (several per write when they queue up) while a reader thread per
    connection consumes the replies: no round trip per request. ``queue_size`` counts requests
    (``BatchCommand`` frames); the CPU/memory events have a few slots of their own."""

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
        old = getattr(self, "_connection", None)
        if old is not None:
            with contextlib.suppress(OSError):
                old.socket.close()  # closes this process's copy of an inherited descriptor only
        self._connection: Connection | None = None
        self._requests: deque[tuple[bytes, int]] = deque()  # (frame, items it carries)
        self._events: deque[bytes] = deque()
        self._cond = threading.Condition(threading.Lock())
        self._in_flight = 0
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._failures_in_a_row = 0
        self._unreachable = False  # the last connection attempt failed
        self._launch_tried = False
        self._cpu = CpuSampler()
        self._next_sample = time.monotonic() + self.sampler_interval

    # -- producer side ----------------------------------------------------------------------------
    def send(self, message: dict[str, Any], items: int = 1) -> bool:
        """Queue one request frame; ``items``: what it carries (spans), counted when the frame is lost."""
        frame = encode(message)
        with self._cond:
            if self._stopping:
                self.stats.unsent_at_close_items += items
                return False
            if len(self._requests) >= self.queue_size:
                self.stats.dropped_queue_full += 1
                self.stats.dropped_queue_full_items += items
                full = True
            else:
                self._requests.append((frame, items))
                self._cond.notify()
                full = False
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="tl-otel-scout-agent", daemon=True)
                self._thread.start()
        if full:
            _rate_limited.warning("scout-queue-full", "Scout core agent queue full (%d requests, "
                                  "TL_OTEL_SCOUT_QUEUE_SIZE): dropping; %d dropped so far", self.queue_size,
                                  self.stats.dropped_queue_full)
        return not full

    def flush(self, timeout: float) -> bool:
        """Wait until every queued frame was sent and its reply read (or given up on), up to ``timeout``. While
        the agent is unreachable it returns at once: waiting out the whole shutdown budget for an absent agent
        would only delay exit."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._requests or self._events or self._in_flight or self._replies_owed():
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._unreachable:
                    return False
                self._cond.wait(min(remaining, 0.1))
        return True

    def _replies_owed(self) -> int:
        connection = self._connection
        return len(connection.owed) if connection is not None else 0

    def close(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        self._disconnect()
        with self._cond:
            # Never written: the sender stops at once; what is still queued is lost, and counted.
            self.stats.unsent_at_close_items += sum(items for _, items in self._requests)
            self._requests.clear()

    # -- connection --------------------------------------------------------------------------------
    def _disconnect(self) -> None:
        connection, self._connection = self._connection, None
        if connection is None:
            return
        with self._cond:
            connection.broken = True
            self._lose_owed(connection)
        with contextlib.suppress(OSError):
            connection.socket.shutdown(socket.SHUT_RDWR)  # wakes the reader
        reader = connection.reader
        if reader is not None and reader is not threading.current_thread():
            reader.join(self.timeout + 1.0)
            if reader.is_alive():
                return  # never close a descriptor another thread may still read from (it could be reused)
        with contextlib.suppress(OSError):
            connection.socket.close()

    def _lose_owed(self, connection: Connection) -> None:
        """Under the lock: frames that went out but whose reply will never be read are counted, not re-sent
        (re-sending could duplicate a request the agent did receive)."""
        self.stats.unacknowledged += len(connection.owed)
        self.stats.unacknowledged_items += sum(items for _, items in connection.owed)
        connection.owed.clear()
        self._cond.notify_all()

    def _exchange(self, frame: bytes) -> None:
        """Send one frame and read its reply, before the reader thread starts (``Register`` and the
        metadata event at connect).

        Raises ``SendFailed`` when the frame did not go out (it may be sent again) and ``NoReply`` when it
        went out but no reply came (re-sending could duplicate it). An agent that has not replied within the
        timeout once makes the connection mute: it costs one timeout per connection, not one per frame."""
        connection = self._connection
        assert connection is not None
        sock = connection.socket
        try:
            if connection.mute:
                self._discard_pending_replies(sock)
            sock.sendall(frame)
        except OSError as exc:
            raise SendFailed(type(exc).__name__) from None
        self.stats.sent += 1
        if connection.mute:
            self.stats.unacknowledged += 1
            return
        try:
            header = self._recv_exactly(sock, 4)
            body = self._recv_exactly(sock, struct.unpack(">I", header)[0])
        except TimeoutError:
            connection.mute = True
            self.stats.unacknowledged += 1
            self._warn_mute()
            return
        except OSError as exc:
            self.stats.unacknowledged += 1
            raise NoReply(type(exc).__name__) from None
        if self._failed(body):
            self.stats.failures += 1
        else:
            self.stats.acknowledged += 1

    def _warn_mute(self) -> None:
        _rate_limited.warning("scout-noreply", "Scout core agent at %s did not reply within %.1fs; sending without "
                              "waiting for replies on this connection", self.socket_path, self.timeout)

    def _discard_pending_replies(self, sock: socket.socket) -> None:
        sock.setblocking(False)
        try:
            while sock.recv(65536):
                pass
        except (BlockingIOError, InterruptedError):
            pass
        finally:
            sock.settimeout(self.timeout)

    def _failed(self, body: bytes) -> bool:
        """Whether a reply says Failure (warned about). The usual Success reply is not parsed."""
        if b"Failure" not in body:
            return False
        try:
            reply = json.loads(body)
        except ValueError:
            reply = {"Failure": {"message": "unparseable reply"}}
        result = next(iter(reply.values()), {}) if isinstance(reply, dict) else {}
        failed = "Failure" in reply or (isinstance(result, dict) and isinstance(result.get("result"), dict)
                                        and "Failure" in result["result"])
        if failed:
            _rate_limited.warning("scout-failure", "Scout core agent answered Failure: %s", str(reply)[:300])
        return failed

    @staticmethod
    def _recv_exactly(sock: socket.socket, size: int) -> bytes:
        chunks, received = [], 0
        while received < size:
            chunk = sock.recv(size - received)
            if not chunk:
                raise ConnectionError("core agent closed the connection")
            chunks.append(chunk)
            received += len(chunk)
        return b"".join(chunks)

    def _connect(self) -> bool:
        family, address = socket_address(self.socket_path)
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
        connection = self._connection = Connection(sock)
        try:
            self._exchange(encode(Register(self.app, self._key, self.hostname).message()))
            self._exchange(encode(self._metadata()))
        except (SendFailed, NoReply) as exc:
            self._disconnect()
            self.stats.connect_failures += 1
            _rate_limited.warning("scout-register", "Scout core agent at %s: Register failed (%s)",
                                  self.socket_path, exc)
            return False
        connection.reader = threading.Thread(target=self._read_replies, args=(connection,),
                                             name="tl-otel-scout-replies", daemon=True)
        connection.reader.start()
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

    # -- reader thread (one per connection) -------------------------------------------------------
    def _read_replies(self, connection: Connection) -> None:
        sock, pending, reason = connection.socket, bytearray(), "closed by the agent"
        while True:
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                self._check_overdue(connection)
                continue
            except OSError as exc:
                chunk, reason = b"", type(exc).__name__
            if not chunk:
                self._lost(connection, reason)
                return
            if connection.mute:
                continue  # late replies of a mute connection are discarded
            pending += chunk
            while len(pending) >= 4:
                end = 4 + struct.unpack_from(">I", pending)[0]
                if len(pending) < end:
                    break
                failed = self._failed(bytes(pending[4:end]))
                del pending[:end]
                with self._cond:
                    if connection.owed:
                        connection.owed.popleft()
                        if failed:
                            self.stats.failures += 1
                        else:
                            self.stats.acknowledged += 1
                        if not connection.owed:
                            self._cond.notify_all()

    def _check_overdue(self, connection: Connection) -> None:
        with self._cond:
            overdue = (not connection.mute and not connection.broken and bool(connection.owed)
                       and time.monotonic() - connection.owed[0][0] >= self.timeout)
            if overdue:
                connection.mute = True
                self._lose_owed(connection)
        if overdue:
            self._warn_mute()

    def _lost(self, connection: Connection, reason: str) -> None:
        with self._cond:
            if connection.broken:
                return  # we closed it
            connection.broken = True
            lost = len(connection.owed)
            self._lose_owed(connection)
            total = self.stats.unacknowledged
        with contextlib.suppress(OSError):
            connection.socket.shutdown(socket.SHUT_RDWR)  # a write in progress fails at once
        _rate_limited.warning("scout-lost", "Scout core agent at %s: connection lost (%s); %d frames sent without a "
                              "reply are counted as unacknowledged, not re-sent (they could arrive twice); %d "
                              "unacknowledged in all so far", self.socket_path, reason, lost, total)

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
                    pending = self._requests or self._events
                    if pending and now >= retry_at:
                        break
                    if now >= self._next_sample:
                        break
                    wake = min(self._next_sample, retry_at if pending else self._next_sample)
                    self._cond.wait(max(0.01, wake - now))
                if self._stopping:
                    return
            if time.monotonic() >= self._next_sample:
                self._queue_samples()
            connection = self._connection
            if connection is not None and connection.broken:
                self._disconnect()  # lost while idle: reconnect at once
            if self._connection is None and not self._connect():
                retry_at = time.monotonic() + self._backoff()
                continue
            if not self._drain():
                self._disconnect()
                retry_at = time.monotonic() + self._backoff()

    def _queue_samples(self) -> None:
        self._next_sample = time.monotonic() + self.sampler_interval
        now, source = dt.datetime.now(dt.timezone.utc), f"Pid: {os.getpid()}"
        for kind, value in (("CPU/Utilization", self._cpu.sample()), ("Memory/Physical", memory_mb())):
            with self._cond:
                if len(self._events) < SAMPLE_SLOTS:
                    self._events.append(encode(ApplicationEvent(kind, value, source, now).message()))

    def _drain(self) -> bool:
        """Write what is queued, several frames per write, without waiting for replies (the reader thread
        takes them). Returns False when the connection broke."""
        connection = self._connection
        if connection is None:
            return False
        while True:
            with self._cond:
                if connection.broken:
                    return False
                if self._stopping or not (self._requests or self._events):
                    self._cond.notify_all()
                    return True
                frames: list[bytes] = []
                items: list[int] = []  # what each frame carries (0: an event)
                requests, size = 0, 0
                while self._events and size < MAX_WRITE_BYTES:
                    frames.append(self._events.popleft())
                    items.append(0)
                    size += len(frames[-1])
                while self._requests and size < MAX_WRITE_BYTES:
                    frame, carried = self._requests.popleft()
                    frames.append(frame)
                    items.append(carried)
                    size += len(frame)
                    requests += 1
                self._in_flight = len(frames)
                tracked = not connection.mute
                if tracked:  # owed before the write: a reply can come before this thread runs again
                    now = time.monotonic()
                    connection.owed.extend((now, carried) for carried in items)
            written, error = self._write(connection.socket, frames)
            with self._cond:
                self._in_flight = 0
                self.stats.sent += written
                unwritten = len(frames) - written
                if not tracked:
                    self.stats.unacknowledged += written
                    self.stats.unacknowledged_items += sum(items[:written])
                elif connection.broken or connection.mute:
                    # Counted when the owed replies were given up on; these go out again.
                    self.stats.unacknowledged -= unwritten
                    self.stats.unacknowledged_items -= sum(items[written:])
                else:
                    for _ in range(unwritten):
                        connection.owed.pop()
                # What did not (fully) go out stays first in its queue for the next connection.
                events = len(frames) - requests
                start = max(events, written)
                self._requests.extendleft(reversed(list(zip(frames[start:], items[start:], strict=True))))
                self._events.extendleft(reversed(frames[written:events]))
                self._cond.notify_all()
            if error is not None:
                return False

    @staticmethod
    def _write(sock: socket.socket, frames: list[bytes]) -> tuple[int, OSError | None]:
        """Write the frames as one stream; returns how many went out whole, and the error that stopped it."""
        data = b"".join(frames) if len(frames) > 1 else frames[0]
        view, total, error = memoryview(data), 0, None
        try:
            while total < len(data):
                total += sock.send(view[total:])
        except OSError as exc:
            error = exc
        if error is None:
            return len(frames), None
        written, end = 0, 0
        for frame in frames:
            end += len(frame)
            if end > total:
                break
            written += 1
        return written, error
