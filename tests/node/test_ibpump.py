"""The node's IB message pump (workbench/node/ibpump.py) against nautilus's own: the same framing as
``ibapi.comm.read_msg`` however the bytes arrive, the same handler calls in the same order from the same
messages (text ids, raw int ids, protobuf), nautilus's BAD_LENGTH stop, and a REAL node over loopback on
each pump (quotes, orders, fills, a clean stop)."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
from functools import partial
from pathlib import Path

import pytest
from ibapi import comm
from ibapi.connection import Connection
from ibapi.const import MAX_MSG_LEN
from ibapi.decoder import Decoder
from ibapi.protobuf.ErrorMessage_pb2 import ErrorMessage
from nautilus_trader.adapters.interactive_brokers.client import InteractiveBrokersClient
from nautilus_trader.cache.cache import Cache
from nautilus_trader.common.component import LiveClock, MessageBus
from nautilus_trader.model.identifiers import TraderId

from workbench.errors import WorkbenchError
from workbench.ibsim import msg_core as m
from workbench.ibsim.wire import frame as wire_frame
from workbench.node.ibpump import SLICE, FastIBClient, frame, pump

ROOT = Path(__file__).resolve().parents[2]


# ------------------------------------------------------------------------------------------------ framing
def stock_frames(chunks: list[bytes]) -> tuple[list[bytes], bytes]:
    """nautilus's reader loop (client.py ``_run_tws_incoming_msg_reader``) with ``comm.read_msg``."""
    out, buf = [], b""
    for data in chunks:
        buf += data
        while buf:
            _, msg, buf = comm.read_msg(buf)
            if not msg:
                break
            out.append(msg)
    return out, buf


def pump_frames(chunks: list[bytes]) -> tuple[list[bytes], bytes]:
    """FastIBClient's reader loop over the same receives."""
    out, buf = [], bytearray()
    for data in chunks:
        buf += data
        msgs, used = frame(buf)
        del buf[:used]
        out += msgs
    return out, bytes(buf)


def _stream(n: int) -> bytes:
    return b"".join(wire_frame(m.tick_by_tick_bid_ask(200, 7, 1_700_000_000 + i, 500.01 + i / 100, 500.02 + i / 100,
                                                      100 + i, 200 + i)) for i in range(n))


def _split(data: bytes, cuts: list[int]) -> list[bytes]:
    edges = [0, *sorted(cuts), len(data)]
    return [data[a:b] for a, b in zip(edges, edges[1:], strict=False)]


def test_frame_matches_read_msg_for_every_split_point_and_byte_by_byte():
    data = _stream(4)
    want = stock_frames([data])
    assert len(want[0]) == 4 and want[1] == b""
    for cut in range(len(data) + 1):  # every chunk edge: inside a header, inside a body, exactly at a message end
        assert pump_frames(_split(data, [cut])) == stock_frames(_split(data, [cut])) == want
    ones = [data[i:i + 1] for i in range(len(data))]
    assert pump_frames(ones) == stock_frames(ones) == want


def test_frame_many_messages_per_receive_large_messages_and_an_incomplete_tail():
    data = _stream(2000)
    big = comm.make_msg(4, False, "x" * 10_000)  # larger than one 4096-byte recv
    chunks = [data[:70_001], data[70_001:] + big[:5000], big[5000:], data[:10]]  # ends mid-header of the next
    got = pump_frames(chunks)
    assert got == stock_frames(chunks)
    assert len(got[0]) == 2001 and got[1] == data[:10]


def test_an_oversized_message_is_framed_whole_as_read_msg_does():
    body = b"9\0" + b"y" * MAX_MSG_LEN  # one byte over the limit once the id field is counted
    data = len(body).to_bytes(4, "big") + body
    step = 1 << 20
    chunks = [data[i:i + step] for i in range(0, len(data), step)]
    got = pump_frames(chunks)
    assert got[1] == b"" and len(got[0]) == 1 and got[0][0] == body == stock_frames([data])[0][0]


def test_pump_switch_fails_closed_on_an_unknown_name(monkeypatch):
    monkeypatch.delenv("WB_IB_PUMP", raising=False)
    assert pump() == "fast"
    monkeypatch.setenv("WB_IB_PUMP", "Nautilus")
    assert pump() == "nautilus"
    monkeypatch.setenv("WB_IB_PUMP", "fsat")
    with pytest.raises(WorkbenchError, match="WB_IB_PUMP"):
        pump()


# ------------------------------------------------------------------------------------------------ decoding
def _client(cls, loop, version: int):
    clock = LiveClock()
    client = cls(loop=loop, msgbus=MessageBus(TraderId("PUMP-001"), clock), cache=Cache(), clock=clock,
                 host="127.0.0.1", port=1, client_id=7)
    client._eclient.serverVersion_ = version  # as the handshake leaves it (connection.py)
    client._eclient.decoder = Decoder(wrapper=client._eclient.wrapper, serverVersion=version)
    return client


def _calls(client) -> list:
    """The handler calls queued so far, comparable across clients (partials bound to each client)."""
    out, q = [], client._msg_handler_task_queue
    while not q.empty():
        task = q.get_nowait()
        assert isinstance(task, partial)
        out.append((task.func.__name__, task.args, {k: repr(vars(v)) if hasattr(v, "__dict__") else v
                                                     for k, v in task.keywords.items()}))
    return out


def _text_messages(v: int) -> list[bytes]:
    fields = [m.tick_by_tick_bid_ask(v, 7, 1_700_000_000, 500.01, 500.03, 100, 300),
              m.tick_price(v, 8, m.BID, 499.5, 700), m.tick_size(v, 8, 0, 900),
              m.error(v, 9, 2104, "Market data farm connection is OK:usfarm"), m.next_valid_id(v, 42),
              m.managed_accounts(v, ["DU1", "DU2"]), m.market_data_type(v, 7, 1)]
    return [comm.read_msg(wire_frame(f))[1] for f in fields]


def _raw_id_messages() -> list[bytes]:
    """Server version >= 201: 4-byte binary ids; 200 + id: a protobuf body (here IB's error message)."""
    text = [msg.split(b"\0", 1) for msg in _text_messages(201)]
    raw = [int(i).to_bytes(4, "big") + rest for i, rest in text]
    proto = ErrorMessage(id=5, errorCode=10197, errorMsg="No market data during competing session", errorTime=1)
    return [*raw, (200 + 4).to_bytes(4, "big") + proto.SerializeToString()]


@pytest.mark.parametrize("version", [200, 201])
def test_fast_client_queues_the_same_handler_calls_in_order_as_nautilus(version):
    msgs = _text_messages(version) if version < 201 else _raw_id_messages()

    async def main():
        loop = asyncio.get_running_loop()
        stock, fast = _client(InteractiveBrokersClient, loop, version), _client(FastIBClient, loop, version)
        for msg in msgs:  # decoded in a worker thread, each handler put back on the loop thread-safely
            assert await stock._process_message(msg)
        for _ in range(100):
            await asyncio.sleep(0.01)
            if stock._msg_handler_task_queue.qsize() >= len(msgs):
                break
        assert await fast._process_batch(msgs)  # on this thread, one batch
        return _calls(stock), _calls(fast)

    want, got = asyncio.run(main())
    assert len(want) >= len(msgs) + 1  # TICK_PRICE fans out into a tickSize too
    assert got == want


def test_bad_length_stops_the_batch_with_nautilus_error_and_the_rest_is_not_decoded():
    ok = _text_messages(200)[0]
    oversized = b"1\0" + b"z" * MAX_MSG_LEN

    async def main():
        fast = _client(FastIBClient, asyncio.get_running_loop(), 200)
        assert not await fast._process_batch([ok, oversized, ok])
        return _calls(fast)

    calls = asyncio.run(main())
    assert [c[0] for c in calls] == ["process_tick_by_tick_bid_ask"]


def test_a_handler_submitted_from_another_thread_still_arrives():
    async def main():
        fast = _client(FastIBClient, asyncio.get_running_loop(), 200)
        task = partial(fast.process_next_valid_id, order_id=3)
        await asyncio.to_thread(fast.submit_to_msg_handler_queue, task)
        await asyncio.sleep(0.05)
        return _calls(fast)

    assert [c[0] for c in asyncio.run(main())] == ["process_next_valid_id"]


def test_a_large_receive_gives_the_loop_a_turn_every_slice_in_order():
    msgs = _text_messages(200)[:1] * (3 * SLICE + 5)

    async def main():
        fast = _client(FastIBClient, asyncio.get_running_loop(), 200)
        seen = []

        async def other_task():  # the handler processor's place: ready while the batch is decoded
            while len(seen) < 4:
                seen.append(fast._msg_handler_task_queue.qsize())
                await asyncio.sleep(0)

        watcher = asyncio.create_task(other_task())
        await asyncio.sleep(0)
        seen.clear()
        assert await fast._process_batch(msgs)
        await watcher
        return seen, _calls(fast)

    seen, calls = asyncio.run(main())
    assert seen[:3] == [SLICE, 2 * SLICE, 3 * SLICE]  # it ran between slices, not only after the batch
    assert len(calls) == len(msgs)


def test_a_task_a_handler_made_ready_runs_before_the_next_queued_handler():
    # the strategy's order send is a task made ready by a quote's handler: it must not wait for the rest of
    # the decoded slice's handlers (with nautilus's processor it did: tick-to-submit grew with the slice)
    async def main():
        fast = _client(FastIBClient, asyncio.get_running_loop(), 200)
        order: list[str] = []

        async def send() -> None:
            order.append("order sent")

        def handler(name: str, submits: bool):
            async def run() -> None:
                order.append(name)
                if submits:
                    asyncio.get_running_loop().create_task(send())
            return run

        for i in range(4):
            fast._msg_handler_task_queue.put_nowait(handler(f"quote {i}", i == 0))
        processor = asyncio.create_task(fast._run_msg_handler_processor())
        for _ in range(100):
            await asyncio.sleep(0)
            if len(order) == 5:
                break
        processor.cancel()
        return order

    assert asyncio.run(main()) == ["quote 0", "order sent", "quote 1", "quote 2", "quote 3"]


def _connected(client):
    a, b = socket.socketpair()
    a.settimeout(0.2)  # nautilus's connection uses 1 s (ibapi/connection.py)
    conn = Connection("127.0.0.1", 1)
    conn.socket = a
    client._eclient.conn = conn
    return conn, b


def test_recv_has_recvmsg_semantics_and_takes_a_backlog_in_one_receive():
    async def main():
        fast = _client(FastIBClient, asyncio.get_running_loop(), 200)
        conn, peer = _connected(fast)
        assert fast._recv() == b"" and conn.isConnected()  # the timeout: nothing yet, still connected
        backlog = _stream(2500)  # ~130 KB queued behind a slow node (fits the socket buffers)
        peer.settimeout(5)
        peer.sendall(backlog)
        peer.close()
        parts = []
        while conn.isConnected():
            parts.append(fast._recv())
        assert b"".join(parts) == backlog and parts[-1] == b""  # then the peer's close: disconnected
        assert len(parts) == 2  # the backlog in one receive (ibapi's recvMsg: 4 KiB pieces concatenated)
        assert fast._recv() == b""
        fast._eclient.reset()  # EClient.disconnect's reset: no connection object at all
        assert fast._eclient.conn is None and fast._recv() == b""

    asyncio.run(main())


# ------------------------------------------------------------------------------------------------ a node
NODE_SCRIPT = """
import json, sys
from nautilus_trader.adapters.interactive_brokers.factories import IB_CLIENTS
from workbench.node import load_node_config, run_node
summary = run_node(load_node_config(sys.argv[1]), 8.0, store_path=sys.argv[2])
summary["ib_clients"] = sorted({type(c).__name__ for c in IB_CLIENTS.values()})
print(json.dumps(summary, default=str))
"""


@pytest.mark.parametrize("name,cls", [("fast", "FastIBClient"), ("nautilus", "InteractiveBrokersClient")])
def test_a_real_node_trades_and_stops_flat_on_each_pump(demo_store, tmp_path, name, cls):
    cfg = tmp_path / "node_real.yaml"
    cfg.write_text((ROOT / "config/node_real.yaml").read_text().replace("speed: 10.0", "speed: 120.0"))
    env = {**os.environ, "WB_CONTROL_FILE": str(tmp_path / "control.json"), "WB_IB_PUMP": name}
    proc = subprocess.run([sys.executable, "-c", NODE_SCRIPT, str(cfg), str(demo_store)], capture_output=True,
                          text=True, timeout=120, cwd=ROOT, env=env)
    assert proc.returncode == 0 and proc.stdout.strip(), proc.stderr[-2000:]
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert summary["ib_clients"] == [cls]
    assert summary["quotes"] > 0 and summary["orders"] > 0 and summary["fills"] > 0
    assert summary["errors"] == [] and summary["residual_positions"] == {} and summary["unapproved_orders"] == 0
