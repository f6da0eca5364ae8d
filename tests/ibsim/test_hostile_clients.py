"""Hostile clients over real sockets on 127.0.0.1: the gateway logs one line and closes cleanly."""

from __future__ import annotations

import asyncio
import logging
import struct

from .conftest import gateway, run


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
