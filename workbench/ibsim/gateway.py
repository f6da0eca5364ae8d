"""The simulated IB Gateway: an asyncio TCP server speaking the TWS API, plus the replay loop.

Typical use (tests, notebooks)::

    gw = Gateway(GatewayConfig(port=0, start="2013-10-07 13:30", speed=0), source, catalog)
    await gw.start()                      # binds 127.0.0.1:<ephemeral>
    ib = ib_async.IB(); await ib.connectAsync("127.0.0.1", gw.port, clientId=1)
    ...
    gw.clock.advance(5)                   # move simulated time; quotes replay, orders fill
    await gw.stop()

or ``wb gateway sim`` from the command line.  The replay loop wakes every ``tick_interval_s`` of
wall time, replays every quote of watched instruments up to the simulated "now", feeds them to
the broker's matching engine and to subscribed clients, and applies scheduled faults.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from . import h_account, h_market
from .account import StateFile
from .broker import Broker, BrokerConfig, Event
from .clock import SimClock
from .contracts import ContractCatalog
from .faults import Faults, load_scenario
from .market import MarketSource, Quotes
from .pacing import HistoricalPacer, PacingLimits
from .session import Session
from .wire import TEXT_PROTOCOL_MAX

if TYPE_CHECKING:  # pandas at import would double a simulator process's start-up (workbench/ibsim/process.py)
    import pandas as pd

log = logging.getLogger("workbench.ibsim")
NS = 1_000_000_000
TAPE_CHUNK_NS = 3600 * NS  # quotes are loaded from the source one simulated hour at a time
LOOKBACK_NS = 5 * 86400 * NS  # how far back to look for the book at subscription time


@dataclass(frozen=True)
class GatewayConfig:
    """Immutable simulator settings.  ``start`` is the simulated time at startup (UTC if naive)."""

    host: str = "127.0.0.1"
    port: int = 4002
    start: str | int | pd.Timestamp = "2013-10-07 13:30:00"
    speed: float = 1.0
    max_version: int = TEXT_PROTOCOL_MAX
    tws_timezone: str = "America/New_York"
    master_client_id: int | None = None
    tick_interval_s: float = 0.005
    pacing: PacingLimits = field(default_factory=PacingLimits)
    broker: BrokerConfig = field(default_factory=BrokerConfig)
    state_path: str | Path | None = None
    scenario: str | Path | None = None
    live_sec_types: frozenset[str] = frozenset({"STK", "OPT", "FUT", "IND"})
    on_rate_limit: str = "drop"  # or "disconnect"
    # wall seconds a client has to complete API\0 + version handshake; a silent socket is then closed
    handshake_timeout_s: float = 10.0
    # bytes queued for one client that it has not read yet; past this it is a slow consumer and is
    # disconnected (as TWS does) instead of the simulator's memory growing without bound
    max_send_buffer_bytes: int = 16 * 1024 * 1024

    def start_ns(self) -> int:
        if isinstance(self.start, int):
            return self.start
        import pandas as pd

        ts = pd.Timestamp(self.start)
        return int((ts.tz_localize("UTC") if ts.tzinfo is None else ts).value)


class Gateway:
    def __init__(self, config: GatewayConfig, source: MarketSource, catalog: ContractCatalog) -> None:
        if config.max_version > TEXT_PROTOCOL_MAX:
            raise ValueError(f"max_version {config.max_version} > {TEXT_PROTOCOL_MAX}: binary/protobuf framing "
                             "(server versions 201+) is not simulated")
        if config.host not in ("127.0.0.1", "localhost", "::1"):
            log.warning("binding the IB simulator to non-loopback host %s", config.host)
        self.config = config
        self.source = source
        self.catalog = catalog
        self.clock = SimClock(config.start_ns(), config.speed)
        state = StateFile(config.state_path) if config.state_path else None
        self.broker = Broker(catalog, config.broker, state)
        self.pacer = HistoricalPacer(config.pacing)
        self.faults = Faults()
        if config.scenario:
            self.faults.set_schedule(load_scenario(config.scenario, self.clock.now_ns()))
        self.sessions: list[Session] = []
        self.handlers = {**h_market.HANDLERS, **h_account.HANDLERS}
        self._server: asyncio.AbstractServer | None = None
        self._loop_task: asyncio.Task | None = None
        self._tapes: dict[int, Quotes] = {}
        self._tape_end: dict[int, int] = {}
        self._cursor: dict[int, int] = {}  # con_id -> last replayed quote ts
        self._outage_until: int | None = None
        self._outage_data_lost = False
        self.port = config.port

    # ------------------------------------------------------------------ lifecycle

    async def start(self, sock=None) -> Gateway:
        """Listen on ``config.host:config.port``, or on ``sock``, a listening socket bound by the caller
        (the parent of a simulator process binds it: workbench/ibsim/process.py)."""
        if sock is not None:
            self._server = await asyncio.start_server(self._on_connect, sock=sock)
        else:
            self._server = await asyncio.start_server(self._on_connect, self.config.host, self.config.port)
        self.port = self._server.sockets[0].getsockname()[1]
        self._loop_task = asyncio.create_task(self._replay_loop(), name="ibsim-replay")
        log.info("IB simulator listening on %s:%s", self.config.host, self.port)
        return self

    async def stop(self) -> None:
        if self._loop_task:
            self._loop_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop_task
        for s in list(self.sessions):
            s.close()
        if self._server:
            self._server.close()
            await self._server.wait_closed()
        self.broker.save()

    async def __aenter__(self) -> Gateway:
        return await self.start()

    async def __aexit__(self, *exc) -> None:
        await self.stop()

    async def _on_connect(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        s = Session(self, reader, writer)
        self.sessions.append(s)
        await s.run()

    def forget(self, s: Session) -> None:
        if s in self.sessions:
            self.sessions.remove(s)

    # ------------------------------------------------------------------ faults

    def drop_connections(self) -> None:
        """Abort every client socket (what a gateway crash or network cut looks like)."""
        for s in list(self.sessions):
            s.close()

    def connectivity_loss(self, seconds: float, data_lost: bool = False) -> None:
        """Send 1100 now; after ``seconds`` of simulated time send 1102 (or 1101 and drop market-data
        subscriptions when ``data_lost``).  Quotes stop streaming during the outage."""
        self._outage_until = self.clock.now_ns() + int(seconds * NS)
        self._outage_data_lost = data_lost
        for s in self.sessions:
            s.error(-1, 1100, "Connectivity between IB and Trader Workstation has been lost.")

    def _end_outage(self) -> None:
        self._outage_until = None
        for s in self.sessions:
            if self._outage_data_lost:
                s.subs.clear()
                s.error(-1, 1101, "Connectivity between IB and TWS has been restored- data lost.")
            else:
                s.error(-1, 1102, "Connectivity between IB and Trader Workstation has been restored - data maintained.")

    def _apply_scheduled(self, now: int) -> None:
        for f in self.faults.due(now):
            a = f.args
            if f.action == "drop_connection":
                self.drop_connections()
            elif f.action == "connectivity_loss":
                self.connectivity_loss(float(a.get("seconds", 5)), bool(a.get("data_lost", False)))
            elif f.action == "reject_next_order":
                self.broker.reject_next = str(a.get("reason", "Simulated rejection"))
            elif f.action == "delay_fills":
                self.broker.extra_fill_delay_ns = int(float(a.get("seconds", 1)) * NS)
            elif f.action == "duplicate_next_execution":
                self.faults.duplicate_next_execution = True
            elif f.action == "stall_request":
                self.faults.stall_request(a["request"], a.get("seconds"))

    # ------------------------------------------------------------------ replay

    def book_at(self, con_id: int, now_ns: int) -> tuple | None:
        """The latest quote at or before ``now_ns`` (for subscription snapshots)."""
        c = self.catalog.get(con_id)
        q = self.source.quotes(c.instrument_id, now_ns - LOOKBACK_NS, now_ns + 1)
        if not len(q):
            return None
        i = len(q) - 1
        return int(q.ts[i]), float(q.bid[i]), float(q.ask[i]), float(q.bid_size[i]), float(q.ask_size[i])

    def watch(self, con_id: int) -> None:
        """Start replaying ``con_id`` from the current simulated time (idempotent)."""
        if con_id in self._cursor:
            return
        now = self.clock.now_ns()
        self._cursor[con_id] = now
        book = self.book_at(con_id, now)
        if book is not None:
            self.dispatch(self.broker.on_quote(con_id, *book))

    def replayed_to(self, con_id: int) -> int:
        """Simulated time up to which ``con_id``'s quotes have reached clients (now when not watched yet).
        A new subscription's first tick is the book as of this time, not as of now: when the replay lags
        the clock (a busy event loop), a snapshot from "now" would be followed by the older quotes the
        replay still has to send, and a client would see time run backwards."""
        return self._cursor.get(con_id, self.clock.now_ns())

    def _watched(self) -> list[int]:
        ids = {sub.con_id for s in self.sessions for sub in s.subs.values()}
        ids |= {o.con_id for o in self.broker.orders(active=True)}
        for con_id in ids:
            self.watch(con_id)
        return sorted(ids)

    def _new_quotes(self, con_id: int, now: int) -> Quotes:
        start = self._cursor[con_id]
        if now <= start:
            return Quotes.empty()
        tape = self._tapes.get(con_id)
        if tape is None or self._tape_end[con_id] < now:
            iid = self.catalog.get(con_id).instrument_id
            end = max(now, start) + TAPE_CHUNK_NS
            tape = self.source.quotes(iid, start + 1, end)
            self._tapes[con_id], self._tape_end[con_id] = tape, end
        self._cursor[con_id] = now
        i, j = np.searchsorted(tape.ts, [start + 1, now + 1], side="left")
        return Quotes(tape.ts[i:j], tape.bid[i:j], tape.ask[i:j], tape.bid_size[i:j], tape.ask_size[i:j])

    def step(self) -> None:
        """One replay cycle at the current simulated time (the loop calls this; tests may too)."""
        now = self.clock.now_ns()
        self._apply_scheduled(now)
        if self._outage_until is not None:
            if now < self._outage_until:
                return
            self._end_outage()
        for con_id in self._watched():
            q = self._new_quotes(con_id, now)
            if not len(q):
                continue
            subs = [(s, sub) for s in self.sessions for sub in s.subs.values() if sub.con_id == con_id]
            # plain Python numbers once per cycle, not a numpy scalar conversion per field and quote
            for ts, bid, ask, bsz, asz in zip(q.ts.tolist(), q.bid.tolist(), q.ask.tolist(), q.bid_size.tolist(),
                                              q.ask_size.tolist(), strict=True):
                for s, sub in subs:
                    h_market.emit_quote(s, sub, ts, bid, ask, bsz, asz)
                self.dispatch(self.broker.on_quote(con_id, ts, bid, ask, bsz, asz))
        self.dispatch(self.broker.on_time(now))

    async def _replay_loop(self) -> None:
        while True:
            try:
                self.step()
            except Exception:  # keep serving: one bad cycle must not kill the gateway
                log.exception("replay cycle failed")
            await asyncio.sleep(self.config.tick_interval_s)

    # ------------------------------------------------------------------ fan-out

    def dispatch(self, events: list[Event]) -> None:
        if not events:
            return
        touched_account = False
        for ev in events:
            if ev.kind in ("order", "exec", "error"):
                for s in self.sessions:
                    if s.sees_client(ev.client_id):
                        h_account.emit_event(s, ev)
                if ev.kind == "exec" and self.faults.duplicate_next_execution:
                    self.faults.duplicate_next_execution = False
                    for s in self.sessions:
                        if s.sees_client(ev.client_id):
                            h_account.emit_event(s, ev)
            elif ev.kind == "position":
                touched_account = True
                for s in self.sessions:
                    h_account.emit_position_update(s, ev.con_id)
        if touched_account:
            for s in self.sessions:
                h_account.emit_account_update(s)
