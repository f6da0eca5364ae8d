"""Hostile clients over real sockets on 127.0.0.1: the gateway logs one line and closes cleanly."""

from __future__ import annotations

import asyncio
import logging
import struct

from .conftest import gateway, run, wait_for


def test_non_ascii_handshake_is_one_log_line_and_a_clean_close(spy_source, caplog):
    async def scenario():
        async with gateway(spy_source) as gw:
            reader, writer = await asyncio.open_connection("127.0.0.1", gw.port)
            body = b"v\xff\xfe..178"
            writer.write(b"API\0" + struct.pack(">I", len(body)) + body)
            await writer.drain()
            rest = await asyncio.wait_for(reader.read(), 5)  # EOF: the server closed the connection
            writer.close()
            return rest

    with caplog.at_level(logging.DEBUG):
        assert run(scenario()) == b""
    assert not [r for r in caplog.records if r.exc_info], "an exception trace was logged"
    assert any("not ASCII" in r.getMessage() for r in caplog.records)


def test_silent_client_is_dropped_after_the_handshake_timeout(spy_source, caplog):
    async def scenario():
        async with gateway(spy_source, handshake_timeout_s=0.2) as gw:
            reader, writer = await asyncio.open_connection("127.0.0.1", gw.port)
            rest = await asyncio.wait_for(reader.read(), 10)  # EOF without our sending a byte
            writer.close()
            return rest

    with caplog.at_level(logging.INFO):
        assert run(scenario()) == b""
    assert any("no handshake within" in r.getMessage() for r in caplog.records)


async def _raw_session(port: int, rcvbuf: int | None = None):
    """A raw TWS-protocol client: handshake and START_API, nothing else (so it can misbehave)."""
    import socket

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
    reader, writer = await asyncio.open_connection(sock=sock)
    body = b"v100..178"
    writer.write(b"API\0" + struct.pack(">I", len(body)) + body)
    size = struct.unpack(">I", await reader.readexactly(4))[0]
    await reader.readexactly(size)  # server version and time
    start = b"71\x002\x001\x00\x00"
    writer.write(struct.pack(">I", len(start)) + start)
    await writer.drain()
    return reader, writer


async def _read_until_quiet(reader, quiet_s: float = 0.5) -> bytes:
    out = b""
    while True:
        try:
            chunk = await asyncio.wait_for(reader.read(65536), quiet_s)
        except TimeoutError:
            return out
        if not chunk:
            return out
        out += chunk


def test_flood_of_bad_messages_gets_rate_limited_errors_not_one_reply_each(spy_source):
    """Error frames used to bypass the 50 msg/s limit: 2,000 bad requests drew 2,000 error replies
    (~9.5x the bytes sent). Now every message counts first and error 100 goes out once a second."""
    n = 2000
    async def scenario():
        async with gateway(spy_source) as gw:
            reader, writer = await _raw_session(gw.port)
            await _read_until_quiet(reader, 0.2)  # next id, accounts, farm messages
            bad = b"zz\x00"
            writer.write((struct.pack(">I", len(bad)) + bad) * n)
            await writer.drain()
            got = await _read_until_quiet(reader)
            writer.close()
            return got

    got = run(scenario())
    sent = n * (4 + 3)
    assert got.count(b"Error reading request: bad message id") <= 50
    assert 1 <= got.count(b"Max rate of messages per second") <= 3
    assert len(got) < sent, f"{len(got)} bytes answered to {sent} sent"


def test_client_that_does_not_read_is_disconnected_with_one_log_line(spy_source, caplog):
    """A slow consumer: the gateway queues at most max_send_buffer_bytes for it, then closes it
    (before, the simulator's memory grew by whatever the client asked for: ~143 MB measured)."""
    from workbench.ibsim.pacing import PacingLimits

    cap = 256 * 1024
    unlimited = PacingLimits(identical_window_s=0.0, burst_max=10**6, long_max=10**6, max_msgs_per_s=0)

    async def scenario():
        async with gateway(spy_source, pacing=unlimited, max_send_buffer_bytes=cap) as gw:
            reader, writer = await _raw_session(gw.port, rcvbuf=4096)
            (session,) = gw.sessions
            # reqHistoricalData (id 20, no version field at 178): SPY 1 D of 1-min bars, ~390 per reply
            req = ("20\x00{rid}\x000\x00SPY\x00STK\x00\x000.0\x00\x00\x00SMART\x00\x00USD\x00\x00\x000\x00"
                   "20131007 20:00:00 UTC\x001 min\x001 D\x001\x00TRADES\x002\x000\x00\x00")
            peak = 0
            for rid in range(1, 2001):
                body = req.format(rid=rid).encode()
                writer.write(struct.pack(">I", len(body)) + body)
                await writer.drain()
                await asyncio.sleep(0)
                transport = session.writer.transport
                if transport is not None and not session.closed:
                    peak = max(peak, transport.get_write_buffer_size())
                if session.closed:
                    break
            await wait_for(lambda: session.closed and session not in gw.sessions)
            writer.close()
            return rid, peak, session.sent_by_id[17]  # 17 = HISTORICAL_DATA replies queued

    with caplog.at_level(logging.INFO, logger="workbench.ibsim"):
        requests_sent, peak, replies = run(scenario())
    lines = [r.getMessage() for r in caplog.records if "not reading" in r.getMessage()]
    assert len(lines) == 1 and "max_send_buffer_bytes" in lines[0]
    assert replies >= 1 and requests_sent < 2000
    assert peak <= cap + 64 * 1024  # one reply past the cap at most
