"""The core-agent client against a fake core agent on Unix and TCP sockets: registration, replies,
an agent absent at start, killed mid-stream or mute, a full queue, and fork."""

from __future__ import annotations

import os
import time

import pytest

from examples.peers.fake_core_agent import FakeCoreAgent
from examples.processes import free_port
from tl_otel.exporters.scout.agent_client import CoreAgentClient


def batch(index: int) -> dict:
    return {"BatchCommand": {"commands": [{"StartRequest": {"timestamp": "2026-11-25T12:00:00+00:00",
                                                            "request_id": f"req-{index}"}}]}}


def request_ids(agent: FakeCoreAgent) -> list[str]:
    return [commands[0]["StartRequest"]["request_id"] for commands in agent.requests()]


@pytest.fixture(params=["unix", "tcp"])
def address(request, tmp_path):
    if request.param == "unix":
        return str(tmp_path / "core-agent.sock")
    return f"tcp://127.0.0.1:{free_port()}"


def client(address: str, **options) -> CoreAgentClient:
    options.setdefault("timeout", 1.0)
    return CoreAgentClient(address, "tl-engine-api", "abcdefghij0123456789", "probe-host", **options)


def test_register_and_metadata_come_first_then_requests(address):
    agent = FakeCoreAgent(address)
    sender = client(address)
    try:
        for index in range(3):
            assert sender.send(batch(index))
        assert sender.flush(5)
        assert agent.wait_for(lambda: len(agent.messages) == 5)
        first, second = agent.messages[:2]
        assert first == {"Register": {"app": "tl-engine-api", "key": "abcdefghij0123456789", "host": "probe-host",
                                      "language": "python", "api_version": "1.0"}}
        assert second["ApplicationEvent"]["event_type"] == "scout.metadata"
        assert second["ApplicationEvent"]["event_value"]["language"] == "python"
        assert request_ids(agent) == ["req-0", "req-1", "req-2"]
        assert sender.stats.acknowledged == 5 and sender.stats.failures == 0
    finally:
        sender.close()
        agent.stop()


def test_any_tag_value_arrives_as_sent(address):
    """Non-ASCII text (sent as UTF-8; the frame length counts bytes), integers beyond 64 bits, nesting."""
    agent = FakeCoreAgent(address)
    sender = client(address)
    message = {"BatchCommand": {"commands": [{"TagRequest": {
        "timestamp": "2026-11-25T12:00:00+00:00", "request_id": "req-x", "tag": "note",
        "value": {"text": "é😀\u2028\x00", "big": 2**70, "list": [1.5, None, True]}}}]}}
    try:
        assert sender.send(message)
        assert sender.flush(10)
        assert agent.wait_for(lambda: agent.named("BatchCommand"))
        assert agent.named("BatchCommand") == [message["BatchCommand"]]
        assert sender.stats.failures == 0
    finally:
        sender.close()
        agent.stop()


def test_agent_absent_at_start_then_started(address):
    sender = client(address, backoff_cap=0.5)
    try:
        sender.send(batch(0))
        time.sleep(1.0)
        assert sender.stats.connect_failures >= 1
        attempts = sender.stats.connect_failures
        assert attempts <= 4  # backoff, not a busy loop
        assert sender.flush(5) is False  # no waiting out the budget while the agent is away
        agent = FakeCoreAgent(address)
        assert agent.wait_for(lambda: request_ids(agent) == ["req-0"], timeout=10)  # queued, not lost
        agent.stop()
    finally:
        sender.close()


def accounted(sender: CoreAgentClient) -> bool:
    """Every frame that went out was acknowledged, answered Failure, or counted as unacknowledged."""
    stats = sender.stats
    return stats.sent == stats.acknowledged + stats.failures + stats.unacknowledged


def test_agent_killed_mid_stream_reconnects_registers_again_and_counts_what_it_lost(address):
    # Register, metadata, one request, then the agent drops the connection (once) without replying. Frames
    # written after that one (pipelined, no reply awaited) are lost with the connection: counted, never re-sent.
    agent = FakeCoreAgent(address, close_after=3)
    sender = client(address, backoff_cap=0.3)
    try:
        for index in range(4):
            sender.send(batch(index))
        assert agent.wait_for(lambda: sender.stats.unacknowledged >= 1)
        sender.send(batch(4))
        assert sender.flush(10)
        assert agent.connections == 2
        assert len(agent.named("Register")) == agent.connections
        arrived = request_ids(agent)
        assert arrived[0] == "req-0" and arrived[-1] == "req-4"  # the first connection's and the next one's
        assert arrived == sorted(set(arrived))  # in order, nothing twice
        assert 5 - len(arrived) <= sender.stats.unacknowledged - 1  # req-0 arrived but was never answered
        assert accounted(sender)
    finally:
        sender.close()
        agent.stop()


def test_pipelined_requests_arrive_once_in_order_and_a_peer_closing_mid_stream_is_survived(address):
    """Many requests through a real socket: none dropped by the queue (it counts requests, and the client
    writes without a round trip per request), each arrives once and in order; the agent closing after 200
    frames loses at most what was sent without a reply on that connection, and that loss is counted."""
    total = 3000
    agent = FakeCoreAgent(address, close_after=200)
    sender = client(address, backoff_cap=0.3, queue_size=total)
    try:
        for index in range(total // 2):
            assert sender.send(batch(index))
        assert agent.wait_for(lambda: sender.stats.unacknowledged >= 1 and not sender._requests)
        for index in range(total // 2, total):
            assert sender.send(batch(index))
        assert sender.flush(60)
        arrived = [int(request_id.split("-")[1]) for request_id in request_ids(agent)]
        assert arrived == sorted(set(arrived))
        assert arrived[-(total // 2):] == list(range(total // 2, total))  # after the reconnect: every one
        assert total - len(arrived) <= sender.stats.unacknowledged
        assert sender.stats.dropped_queue_full == 0
        assert agent.connections == 2 and len(agent.named("Register")) == 2
        assert accounted(sender)
    finally:
        sender.close()
        agent.stop()


def test_an_agent_that_never_replies_costs_one_timeout_not_one_per_frame(address):
    agent = FakeCoreAgent(address, reply=False)
    sender = client(address, timeout=0.5, backoff_cap=0.2)
    try:
        started = time.monotonic()
        for index in range(20):
            sender.send(batch(index))
        assert sender.flush(10)
        assert time.monotonic() - started < 3  # 20 frames, one 0.5 s timeout
        assert agent.wait_for(lambda: len(request_ids(agent)) == 20)
        assert request_ids(agent) == [f"req-{index}" for index in range(20)]
        assert sender.stats.acknowledged == 0 and sender.stats.unacknowledged == 22
        assert agent.connections == 1
    finally:
        sender.close()
        agent.stop()


def test_a_full_queue_drops_and_counts(address):
    sender = client(address, queue_size=5, backoff_cap=60)
    try:
        results = [sender.send(batch(index)) for index in range(8)]
        assert results.count(False) == 3 and sender.stats.dropped_queue_full == 3
    finally:
        sender.close()


def test_a_forked_child_does_not_use_the_parent_s_socket_or_queue(address):
    agent = FakeCoreAgent(address)
    sender = client(address)
    try:
        sender.send(batch(0))
        assert sender.flush(5)
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:
            try:
                sender.send(batch(1))
                ok = sender.flush(5)
                os.write(write, f"{ok} {sender.stats.connects}".encode())
            finally:
                os._exit(0)
        os.close(write)
        os.waitpid(pid, 0)
        ok, _connects = os.read(read, 100).decode().split()
        assert ok == "True"
        assert agent.connections == 2 and len(agent.named("Register")) == 2  # the child connected on its own
        assert request_ids(agent) == ["req-0", "req-1"]
    finally:
        sender.close()
        agent.stop()


def test_launch_that_cannot_download_warns_once_and_keeps_connecting(tmp_path, monkeypatch):
    import logging

    monkeypatch.setenv("SCOUT_CORE_AGENT_DIR", str(tmp_path / "agent-dir"))
    messages: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: messages.append(record.getMessage())
    logging.getLogger("tl_otel").addHandler(handler)
    address = str(tmp_path / "core-agent.sock")
    sender = client(address, launch=True, backoff_cap=0.3)
    try:
        started = time.monotonic()
        sender.send(batch(0))  # returns at once: launching happens on the client's threads
        assert time.monotonic() - started < 0.5
        deadline = time.monotonic() + 30
        while not any("not launched" in m for m in messages) and time.monotonic() < deadline:
            time.sleep(0.1)
        warnings = [m for m in messages if "not launched" in m]
        assert len(warnings) == 1 and address in warnings[0]
        agent = FakeCoreAgent(address)
        assert agent.wait_for(lambda: request_ids(agent) == ["req-0"], timeout=10)
        assert len([m for m in messages if "not launched" in m]) == 1
        agent.stop()
    finally:
        logging.getLogger("tl_otel").removeHandler(handler)
        sender.close()


def test_cpu_and_memory_events_every_interval(address):
    agent = FakeCoreAgent(address)
    sender = client(address, sampler_interval=0.3)
    try:
        sender.send(batch(0))
        assert agent.wait_for(lambda: len(agent.named("ApplicationEvent")) >= 5, timeout=10)
        events = [e for e in agent.named("ApplicationEvent") if e["event_type"] != "scout.metadata"]
        kinds = {e["event_type"] for e in events}
        assert kinds == {"CPU/Utilization", "Memory/Physical"}
        assert all(e["source"] == f"Pid: {os.getpid()}" for e in events)
        memory = [e["event_value"] for e in events if e["event_type"] == "Memory/Physical"]
        cpu = [e["event_value"] for e in events if e["event_type"] == "CPU/Utilization"]
        assert all(10 < value < 10_000 for value in memory)  # MB of resident memory
        assert all(0.0 <= value <= 100.0 for value in cpu)  # per interval, not cumulative since start
    finally:
        sender.close()
        agent.stop()
