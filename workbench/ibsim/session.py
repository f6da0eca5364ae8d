"""One client connection: handshake, START_API, request dispatch and outgoing buffering.

Outgoing messages are buffered and written once per event-loop turn, so a burst of ticks costs one
socket write.  Requests are handled in arrival order; a handler that raises ``Reject`` or
``RequestError`` produces an IB error message for that request id instead of killing the session.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from . import msg_core as mcore
from . import requests as rq
from .broker import Reject
from .histrules import HistoryRequestError
from .pacing import MessageRateLimiter
from .wire import API_PREFIX, FrameReader, ProtocolError, frame, parse_handshake, split_fields

if TYPE_CHECKING:
    from .gateway import Gateway

log = logging.getLogger("workbench.ibsim")
NS = 1_000_000_000


@dataclass
class MktSub:
    req_id: int
    con_id: int
    kind: str  # "mkt" | "BidAsk" | "Last" | "AllLast" | "MidPoint" | "rtb"
    delayed: bool = False
    last: tuple = ()  # last (bid, ask, bid_size, ask_size) sent, to send only changes
    bucket: int = -1  # real-time bars: current 5 s bucket
    agg: list = field(default_factory=list)


class Session:
    def __init__(self, gw: Gateway, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.gw = gw
        self.reader = reader
        self.writer = writer
        self.version = 0
        self.client_id: int | None = None
        self.started = False
        self.closed = False
        self.md_type = 1
        self.subs: dict[int, MktSub] = {}
        self.hist_updates: dict[int, int] = {}  # keepUpToDate reqId -> conId
        self.summary_subs: dict[int, list[str] | None] = {}
        self.multi_subs: set[int] = set()
        self.positions_sub = False
        self.account_updates = False
        self.auto_open_orders = False
        self.limiter = MessageRateLimiter(gw.config.pacing.max_msgs_per_s)
        self.rate_limited = 0  # messages dropped over the rate limit
        self._rate_error_at = -1e9  # monotonic time of the last error 100 sent
        self._buf: list[bytes] = []
        self._buffered = 0  # bytes in _buf plus what the transport still holds
        self._flush_scheduled = False
        self.msgs_sent = 0
        self.sent_by_id: Counter[int] = Counter()  # message id -> count, for tests and diagnostics

    # ------------------------------------------------------------------ output

    def send(self, msg: list) -> None:
        if not self.closed:
            self.send_frame(msg[0], frame(msg))

    def send_frame(self, msg_id: int, data: bytes) -> None:
        """Queue one already framed message (``wire.frame`` or a fast encoder such as ``wire.bid_ask_frame``)."""
        if self.closed:
            return
        self._buf.append(data)
        self._buffered += len(data)
        if self._buffered > self.gw.config.max_send_buffer_bytes:  # one turn's replies alone are too many
            self._slow_consumer(self._buffered)
            return
        self.msgs_sent += 1
        self.sent_by_id[msg_id] += 1
        if not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self.flush)

    def flush(self) -> None:
        self._flush_scheduled = False
        if self._buf and not self.closed:
            data = b"".join(self._buf)
            self._buf.clear()
            try:
                self.writer.write(data)
            except (ConnectionError, RuntimeError):
                self.close()
                return
            transport = self.writer.transport
            # what the kernel has not taken yet stays counted until the client reads it
            self._buffered = transport.get_write_buffer_size() if transport is not None else 0
            if self._buffered > self.gw.config.max_send_buffer_bytes:
                self._slow_consumer(self._buffered)

    def _slow_consumer(self, queued: int) -> None:
        log.warning("client %s not reading: %d bytes queued (max_send_buffer_bytes %d); disconnecting",
                    self.client_id, queued, self.gw.config.max_send_buffer_bytes)
        self._buf.clear()
        self._buffered = 0
        self.close()

    def error(self, req_id: int, code: int, text: str) -> None:
        self.send(mcore.error(self.version, req_id, code, text, "", self.gw.clock.now_ns() // 1_000_000))

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        transport = self.writer.transport
        if transport is not None:
            transport.abort()

    def sees_client(self, client_id: int) -> bool:
        """Order events of ``client_id`` reach this session (its own, or master/auto-open clients)."""
        if self.client_id is None or not self.started:
            return False
        master = self.gw.config.master_client_id
        return self.client_id == client_id or self.auto_open_orders or (master is not None and self.client_id == master)

    # ------------------------------------------------------------------ lifecycle

    async def run(self) -> None:
        fr = FrameReader()
        try:
            try:
                await asyncio.wait_for(self._handshake(fr), self.gw.config.handshake_timeout_s)
            except TimeoutError:
                raise ConnectionError(f"no handshake within {self.gw.config.handshake_timeout_s}s") from None
            while not self.closed:
                data = await self.reader.read(65536)
                if not data:
                    break
                for body in fr.feed(data):
                    self._on_message(body)
        except (ConnectionError, ProtocolError, asyncio.IncompleteReadError) as exc:
            log.info("session closed: %s", exc)
        finally:
            self.closed = True
            self.gw.forget(self)
            try:
                self.writer.close()
            except RuntimeError:
                pass

    async def _handshake(self, fr: FrameReader) -> None:
        while True:
            data = await self.reader.read(4096)
            if not data:
                raise ConnectionError("client closed during handshake")
            fr.feed_raw(data)
            taken = fr.take_prefix(API_PREFIX)
            if taken is False:
                raise ProtocolError("connection did not start with API\\0")
            if taken:
                break
        bodies = fr.feed(b"")
        while not bodies:
            data = await self.reader.read(4096)
            if not data:
                raise ConnectionError("client closed during handshake")
            bodies = fr.feed(data)
        hs = parse_handshake(bodies[0])
        self.version = hs.negotiate(self.gw.config.max_version)
        tz = self.gw.config.tws_timezone
        now = datetime.fromtimestamp(self.gw.clock.now_ns() / NS, tz=ZoneInfo(tz))
        self.writer.write(frame([self.version, now.strftime("%Y%m%d %H:%M:%S ") + now.strftime("%Z")]))
        for body in bodies[1:]:
            self._on_message(body)

    def _start_api(self, c: rq.Cursor) -> None:
        if self.started:
            return
        c.skip()  # version
        client_id = c.int("clientId")
        if any(s.client_id == client_id and s.started for s in self.gw.sessions if s is not self):
            self.error(-1, 326, "Unable to connect as the client id is already in use. Retry with a unique client id.")
            self.flush()
            asyncio.get_running_loop().call_later(0.05, self.close)
            return
        self.client_id = client_id
        self.started = True
        self.gw.faults.anchor("connect", self.gw.clock.now_ns())  # a scenario may time faults from it
        broker = self.gw.broker
        self.send(mcore.next_valid_id(self.version, broker.state.next_order_id))
        self.send(mcore.managed_accounts(self.version, [broker.account]))
        for code, text in ((2104, "Market data farm connection is OK:usfarm"),
                           (2106, "HMDS data farm connection is OK:ushmds"),
                           (2158, "Sec-def data farm connection is OK:secdefnj")):
            self.error(-1, code, text)

    # ------------------------------------------------------------------ dispatch

    def _on_message(self, body: bytes) -> None:
        fields = split_fields(body)
        if not fields:
            return
        # every message counts against the rate limit before anything is answered, so a flood of
        # malformed requests cannot make the simulator write more than it reads
        now = time.monotonic()
        if not self.limiter.allow(now):
            self._rate_limited(now)
            return
        try:
            msg_id = int(fields[0])
        except ValueError:
            self.error(-1, 320, f"Error reading request: bad message id {fields[0][:20]!r}")
            return
        if msg_id == rq.START_API:
            self._start_api(rq.Cursor(fields[1:], msg_id))
            return
        if not self.started:
            self.error(-1, 321, "Error validating request: START_API must be the first request")
            return
        if msg_id == rq.PLACE_ORDER:  # a scenario may time faults from the first order (faults.py)
            self.gw.faults.anchor("first_order", self.gw.clock.now_ns())
        stalled, seconds = self.gw.faults.take_stall(msg_id)
        if stalled:
            if seconds is not None:
                asyncio.get_running_loop().call_later(seconds, self._handle, msg_id, fields)
            return
        self._handle(msg_id, fields)

    def _rate_limited(self, now: float) -> None:
        """Over the message rate: error 100 at most once a second (the rest are dropped and counted)."""
        self.rate_limited += 1
        if self.gw.config.on_rate_limit == "disconnect":
            self.error(-1, 100, f"Max rate of messages per second has been exceeded:max={self.limiter.max_per_s}")
            log.info("client %s over %d msg/s; disconnecting", self.client_id, self.limiter.max_per_s)
            self.flush()
            self.close()
        elif now - self._rate_error_at >= 1.0:
            self._rate_error_at = now
            self.error(-1, 100, f"Max rate of messages per second has been exceeded:max={self.limiter.max_per_s}")

    def _handle(self, msg_id: int, fields: list[str]) -> None:
        if self.closed:
            return
        handler = self.gw.handlers.get(msg_id)
        if handler is None:
            log.debug("ignoring unsupported request %s", msg_id)
            return
        cursor = rq.Cursor(fields[1:], msg_id)
        req_id = _guess_req_id(fields)
        try:
            handler(self, cursor)
        except rq.RequestError as exc:
            self.error(req_id, 320, f"Error reading request: {exc}")
        except HistoryRequestError as exc:
            self.error(req_id, exc.code, exc.text)
        except Reject as exc:
            self.error(req_id, exc.code, exc.text)


def _guess_req_id(fields: list[str]) -> int:
    """The request/order id to attach to an error (IB echoes it); -1 when the layout has none."""
    msg_id = int(fields[0])
    versioned = {rq.REQ_MKT_DATA, rq.REQ_CONTRACT_DATA, rq.REQ_EXECUTIONS, rq.REQ_ACCOUNT_SUMMARY,
                 rq.REQ_REAL_TIME_BARS, rq.CANCEL_MKT_DATA}
    idx = 2 if msg_id in versioned else 1
    try:
        return int(fields[idx])
    except (IndexError, ValueError):
        return -1
