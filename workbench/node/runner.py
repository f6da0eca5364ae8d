"""Build and run a nautilus TradingNode (PAPER or REAL) against the embedded IB simulator.

The simulator runs in its own process (workbench/ibsim/process.py), so it does not take the node's
core, GIL and event loop; the node binds its port, reads its quotes from the store once at start and
dials once the child serves (~0.6-1 s), and stopping the node stops the simulator with it. A real
IB Gateway/TWS is used only when the run file names a port. The risk wiring is workbench/node/wiring.py,
the counters/readiness/log workbench/node/telemetry.py."""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
import uuid
from pathlib import Path

import duckdb
from nautilus_trader.adapters.interactive_brokers.config import (
    InteractiveBrokersDataClientConfig,
    InteractiveBrokersExecClientConfig,
)
from nautilus_trader.adapters.sandbox.config import SandboxExecutionClientConfig
from nautilus_trader.adapters.sandbox.factory import SandboxLiveExecClientFactory
from nautilus_trader.config import ImportableStrategyConfig, LoggingConfig, TradingNodeConfig
from nautilus_trader.live.node import TradingNode
from nautilus_trader.model.identifiers import InstrumentId

from workbench.engine.gated import GatedStrategy, RiskSupervisor, using_gate
from workbench.engine.orderlog import RunRecorder
from workbench.errors import WorkbenchError, one_line
from workbench.node.breaker import CircuitBreaker
from workbench.node.config import NodeConfig
from workbench.node.faults import watch_ib
from workbench.node.ibpump import FastIBDataClientFactory, FastIBExecClientFactory
from workbench.node.instruments import provider_config
from workbench.node.recovery import adopt_reconciled, claim_external
from workbench.node.runfolder import RunFolder
from workbench.node.sharedstore import SharedStore, merge_journal, preload_source
from workbench.node.stop import flatten, resolve_unknown_at_venue
from workbench.node.telemetry import OrderAudit, Readiness
from workbench.node.wiring import NodeRisk, load_risk
from workbench.risk.gate import RiskGate
from workbench.store.store import resolve_path


def instrument_ids(cfg: NodeConfig) -> list[str]:
    return sorted({str(e["config"]["instrument_id"]) for e in cfg.strategies})


def build_node(cfg: NodeConfig, port: int, *, gate: RiskGate | None = None) -> TradingNode:
    """A built (not running) TradingNode for ``cfg`` dialling the gateway at ``cfg.host:port``, wired to
    the risk layer like a backtest: every strategy shares ``gate`` (default: a fresh one from
    ``cfg.risk``) and a RiskSupervisor actor runs beside them (derisk, kill switch -> TradingState)."""
    ids = instrument_ids(cfg)
    provider = provider_config(ids)
    data = InteractiveBrokersDataClientConfig(ibg_host=cfg.host, ibg_port=port, ibg_client_id=cfg.client_id,
                                              instrument_provider=provider,
                                              # size-only BidAsk updates are not new quotes (docs/node.md)
                                              ignore_quote_tick_size_updates=True)
    if cfg.mode == "real":
        exec_cfg = InteractiveBrokersExecClientConfig(ibg_host=cfg.host, ibg_port=port,
                                                      ibg_client_id=cfg.client_id, account_id=cfg.account_id,
                                                      instrument_provider=provider)
    else:
        venue = InstrumentId.from_str(ids[0]).venue.value
        exec_cfg = SandboxExecutionClientConfig(venue=venue, starting_balances=[f"{cfg.starting_balance} USD"],
                                                base_currency="USD", oms_type="NETTING", account_type="MARGIN")
    if gate is None:
        gate = RiskGate(load_risk(cfg))  # a missing risk file: the one-line error naming it
    with using_gate(gate):  # the kernel constructs the strategies: they take the run's gate
        node = _node(cfg, data, exec_cfg)
    gated = [s for s in node.trader.strategies() if isinstance(s, GatedStrategy)]
    stray = [s.id.value for s in gated if s.gate is not gate]
    if stray:  # fail closed: a strategy on its own gate would escape the run's limits and kill switch
        raise WorkbenchError(f"strategies {stray} are not on the run's risk gate", where="build_node")
    if gated:
        node.trader.add_actor(RiskSupervisor(gate, gated, risk_engine=node.kernel.risk_engine, instrument_ids=ids,
                                             adopt=adopt_reconciled))  # a restart's reconciled orders/position
    return node


def _node(cfg: NodeConfig, data, exec_cfg) -> TradingNode:
    node = TradingNode(config=TradingNodeConfig(
        trader_id=cfg.trader_id,
        logging=LoggingConfig(log_level="ERROR"),
        data_clients={"IB": data},
        exec_clients={"IB" if cfg.mode == "real" else "SANDBOX": exec_cfg},
        # each gated strategy claims its instrument's reconciled orders/position (recovery.claim_external)
        strategies=[ImportableStrategyConfig(**e) for e in claim_external(cfg.strategies)],
        timeout_connection=20.0, timeout_reconciliation=10.0, timeout_portfolio=10.0,
        timeout_disconnection=5.0, timeout_post_stop=1.0,
    ))
    node.add_data_client_factory("IB", FastIBDataClientFactory)  # WB_IB_PUMP=nautilus: the stock client
    if cfg.mode == "real":
        node.add_exec_client_factory("IB", FastIBExecClientFactory)
    else:
        node.add_exec_client_factory("SANDBOX", SandboxLiveExecClientFactory)
    node.build()
    return node


@contextlib.asynccontextmanager
async def gateway(cfg: NodeConfig, shared: SharedStore, horizon_s: float, *, frozen: bool = False):
    """The embedded simulator on a free loopback port replaying the store from ``cfg.replay_from``;
    ``None`` when the run file names a real gateway. The quotes it will replay (``horizon_s`` wall seconds
    at ``cfg.speed``, plus the look-back for the first book) are read now and the store closed.
    ``frozen``: the clock stands at ``replay_from`` until ``gw.clock.set_speed(cfg.speed)`` (a pair run
    starts it once both legs are subscribed, so they see one stream from its first quote)."""
    if not cfg.embedded:
        yield None
        return
    from workbench.ibsim.account import AccountConfig
    from workbench.ibsim.app import catalog_from_store, start_of
    from workbench.ibsim.broker import BrokerConfig
    from workbench.ibsim.gateway import LOOKBACK_NS, GatewayConfig
    from workbench.ibsim.process import spawn_gateway

    gcfg = GatewayConfig(host="127.0.0.1", port=0, start=start_of(cfg.replay_from), speed=0.0 if frozen else cfg.speed,
                         scenario=cfg.sim_scenario,
                         broker=BrokerConfig(account=AccountConfig(account=cfg.account_id),
                                             ack_latency_ms=cfg.sim_ack_latency_ms,
                                             fill_latency_ms=cfg.sim_fill_latency_ms,
                                             market_remainder=cfg.sim_market_remainder,
                                             consume_displayed=cfg.sim_consume_displayed,
                                             passive_fill=cfg.sim_passive_fill))
    start = gcfg.start_ns()
    with shared.session() as store:
        catalog = catalog_from_store(store)
        source = preload_source(store, instrument_ids(cfg), start - LOOKBACK_NS,
                                start + int((horizon_s + 60.0) * cfg.speed * 1e9))
    if not len(catalog):
        raise WorkbenchError("the store has no instruments to serve", where=shared.path,
                             hint="ingest data first (`wb ingest ...`) or `make demo`")
    async with spawn_gateway(gcfg, source, catalog) as gw:  # its own process: the node keeps its core
        # serving before the node dials: the nautilus IB client's handshake retry would cost ~2 s otherwise
        await gw.ready()
        yield gw


def runs_root(cfg: NodeConfig, store_path: str) -> Path:
    """``cfg.runs_dir``, else ``runs/`` beside the store file (``./runs`` for an in-memory store)."""
    if cfg.runs_dir:
        return Path(cfg.runs_dir)
    return (Path(store_path).parent if store_path != ":memory:" else Path(".")) / "runs"


class Leg:
    """One node run (one run id, run folder, gate, journal, endpoint and TradingNode). A plain run is one
    leg; a pair run (workbench/node/pair.py) is two on one simulator. Steps, in order: :meth:`serve`
    (the endpoint first: a port in use or a live discovery file fails before any client dials out),
    :meth:`start`, :meth:`wait_quotes`, :meth:`stop`, :meth:`release`, :meth:`finish`; all inside :meth:`guard`."""

    def __init__(self, cfg: NodeConfig, shared: SharedStore, *, http_port: int | None = None, ready_checks=()):
        self.cfg, self.shared = cfg, shared
        self.run_id = f"{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}-{uuid.uuid4().hex[:6]}"
        risk_config = load_risk(cfg)  # before the run folder: bad input leaves nothing half-written
        self.run = RunFolder(runs_root(cfg, shared.path) / self.run_id, secrets=(cfg.account_id,))
        self.risk = NodeRisk(cfg, self.run_id, self.run.path / "journal.duckdb", risk_config)
        self.http_port = cfg.http_port if http_port is None else http_port
        self.readiness = Readiness(cfg.ready_timeout_s, ready_checks)
        self.ids = [InstrumentId.from_str(i) for i in instrument_ids(cfg)]
        self.errors: list[str] = []
        self.positions: dict[str, float] = {}
        self.node: TradingNode | None = None
        self.audit: OrderAudit | None = None
        self.recorder: RunRecorder | None = None
        self._tasks: list[asyncio.Task] = []
        self.breaker: CircuitBreaker | None = None
        self.stop_market_ns: int | None = None
        self.adopted: list[str] = []

    @contextlib.contextmanager
    def guard(self):
        """The run folder says why the run ended (one line); the gate's journal is closed either way."""
        try:
            yield self
        except BaseException as exc:
            self.run.log.write("error", message=one_line(exc))
            self.run.log.close()
            raise
        finally:
            self.risk.close()

    def serve(self) -> None:
        server = self.risk.serve(self.shared, self.readiness, port=self.http_port, control_file=self.cfg.control_file)
        self.run.log.secrets_add(server.token)
        if server.took_over:  # a killed node's discovery file (docs/node.md, crash recovery runbook)
            self.run.log.write("warning", message=server.took_over)

    def start(self, port: int) -> None:
        """Build the node dialling ``port`` and start it (and the monitor) on the running loop."""
        cfg, risk, run = self.cfg, self.risk, self.run
        node = self.node = build_node(cfg, port, gate=risk.gate)
        strategies = [s for s in node.trader.strategies() if hasattr(s, "decisions")]
        self.audit = OrderAudit(node.kernel, strategies, risk.counters, run.log)
        # broker faults (docs/node.md): the IB link in /ready and reconnects, the circuit breaker on rejects
        self.readiness.link = watch_ib(cfg.host, port, cfg.client_id,
                                       on_restore=self._reconcile_after_reconnect if cfg.mode == "real" else None)
        self.breaker = CircuitBreaker.for_node(node, risk.gate, strategies, cfg, risk.counters, run.log)
        self.readiness.extra.append(self.breaker.check)
        if cfg.mode == "paper":
            resolve_unknown_at_venue(node, risk.counters.counts, run.log)
        # order lifecycle + run-end marks into the run journal, as a backtest's (wb report compare);
        # flushed with the decisions every second (NodeRisk.poll), so a crash keeps them
        if risk.journal is not None:
            self.recorder = risk.recorder = RunRecorder(risk.journal.con, self.run_id, cfg.mode.upper(), node.kernel)
        url = risk.server.url
        run.write_config(cfg, run_id=self.run_id, gateway_port=port, http_url=url)
        run.log.write("start", run_id=self.run_id, mode=cfg.mode, http_url=url,
                      control_seq=risk.server.channel.applied, halted=risk.gate.global_guard.state.name)
        print(f"node {self.run_id} ({cfg.mode}): {url} (run folder {run.path})", file=sys.stderr, flush=True)
        self._tasks = [asyncio.create_task(node.run_async()),
                       asyncio.create_task(_monitor(node, self.ids, risk, self.audit, self.readiness, run,
                                                    self.errors))]

    async def _reconcile_after_reconnect(self) -> None:
        """REAL: fills and order states the broker made while the IB link was down (workbench/node/faults.py)."""
        try:
            ok = await self.node.kernel.exec_engine.reconcile_execution_state(timeout_secs=10.0)
        except Exception as exc:  # the node keeps running; the failure is a line in the log and the summary
            self.errors.append(f"reconciliation after reconnect failed: {one_line(exc)}")
            ok = False
        self.run.log.write("reconciled", after="reconnect", ok=bool(ok))

    def has_quotes(self) -> bool:
        return self.node is not None and all(self.node.cache.quote_tick(i) for i in self.ids)

    async def wait_quotes(self, deadline: float) -> None:
        """Until every instrument had a quote (or the monotonic ``deadline``: then an error names them)."""
        while time.monotonic() < deadline and not self.has_quotes():
            await asyncio.sleep(0.05)
        missing = [str(i) for i in self.ids if self.node.cache.quote_tick(i) is None]
        if missing:
            self.errors.append(f"not ready: no quotes for {missing}")

    async def stop(self) -> None:
        """Flatten as configured, stop the node, record the run-end marks, release nautilus."""
        if self.node is None or not self._tasks:
            return
        node, (task, monitor) = self.node, self._tasks
        monitor.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await monitor
        # where the stop (wall clock, not the market stream) began on the market timeline: intents after it
        # are the market exit's, timed by acknowledgements rather than quotes
        quotes = [q for q in (node.cache.quote_tick(i) for i in self.ids) if q is not None]
        self.stop_market_ns = max((q.ts_event for q in quotes), default=None)
        self.run.log.write("stopping", market_ns=self.stop_market_ns)
        self.breaker.release()  # the stop's closes must reach the broker
        await flatten(node, self.ids, self.cfg.stop_timeout_s, self.errors)
        await node.stop_async()
        self.positions = {str(i): float(node.portfolio.net_position(i)) for i in self.ids}
        self.adopted = [x for a in node.trader.actors() if isinstance(a, RiskSupervisor) for x in a.adopted]
        if self.adopted:  # a restart took over what the killed run left at the broker: in the log and summary
            self.run.log.write("adopted", items=self.adopted)
        self.audit.drain_decisions()
        if self.recorder is not None:
            self.recorder.finish(instrument_ids(self.cfg))
        node.kernel.dispose()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task

    def release(self) -> None:
        """Shut the kernel's thread pool, once every node on this loop has stopped: the kernel made it the
        loop's default executor, which the IB client of a node still stopping uses."""
        if self.node is not None and self.node.kernel.executor:
            self.node.kernel.executor.shutdown(wait=False, cancel_futures=True)

    def finish(self, t0: float) -> dict:
        """After :meth:`guard`: the checks, the journal merged into the store, the summary (also written)."""
        errors, audit = self.errors, self.audit
        errors[:0] = audit.errors if audit is not None else []
        residual = {k: v for k, v in self.positions.items() if v != 0}
        if residual and not any("not flat" in e for e in errors):  # a fill that landed after the exit finished
            errors.append(f"stop: position not flat at node stop: {residual}")
        unapproved = audit.unapproved() if audit is not None else []
        if unapproved:
            errors.append(f"{len(unapproved)} order(s) without an approved gate decision: {unapproved[:5]}")
        try:
            merged = {k: n for k, n in merge_journal(self.shared, self.run.path / "journal.duckdb").items() if n}
        except (WorkbenchError, duckdb.Error) as exc:  # the run folder keeps the journal (journal.duckdb)
            merged = {}
            errors.append(f"journal not merged into the store: {one_line(exc)}")
        c, risk = self.risk.counters, self.risk
        summary = dict(run_id=self.run_id, mode=self.cfg.mode, duration_s=round(time.monotonic() - t0, 3),
                       quotes=c.counts["quotes"], intents=sum(c.decisions.values()), orders=c.counts["orders"],
                       fills=c.counts["fills"], unapproved_orders=len(unapproved),
                       denied_during_exit=c.counts["denied_during_exit"], decisions=dict(sorted(c.decisions.items())),
                       rejects=sum(c.rejects.values()), reconnects=c.counts["reconnects"],
                       breaker_opens=c.counts["breaker_opens"],
                       orders_resolved_canceled=c.counts["orders_resolved_canceled"],
                       orders_reconciled=c.counts["orders_reconciled"],
                       tick_to_submit_ms=c.latency_summary_ms(), journal_rows=merged, run_dir=str(self.run.path),
                       halted=risk.gate.global_guard.state.name == "HALT",
                       position_end=self.positions, residual_positions=residual, adopted=self.adopted, stop_market_ns=self.stop_market_ns,
                       errors=errors)
        for e in errors:
            self.run.log.write("error", message=e)
        self.run.finish(summary)
        return summary


def open_shared(store_path: str | None) -> SharedStore:
    shared = SharedStore(resolve_path(store_path))
    if shared.path != ":memory:" and not Path(shared.path).is_file():
        raise WorkbenchError("no store file here", where=shared.path, hint="`make demo` or `wb ingest ...` first")
    return shared


async def run_node_async(cfg: NodeConfig, duration_s: float, store_path: str | None = None, *,
                         http_port: int | None = None, ready_checks=()) -> dict:
    """Run ``cfg`` for ``duration_s`` wall seconds, stop, and return the summary dict (also written to
    the run folder with the effective config and the JSON-lines log). ``http_port`` overrides the run
    file's; ``ready_checks`` are extra /ready checks (callables returning a reason or None). A ``pair``
    run file runs PAPER and REAL side by side (workbench/node/pair.py)."""
    if cfg.mode == "pair":
        from workbench.node.pair import run_pair_async

        return await run_pair_async(cfg, duration_s, store_path, http_port=http_port, ready_checks=ready_checks)
    shared = open_shared(store_path)
    leg = Leg(cfg, shared, http_port=http_port, ready_checks=ready_checks)
    t0 = time.monotonic()
    with leg.guard():
        leg.serve()
        async with gateway(cfg, shared, duration_s) as gw:
            leg.start(gw.port if gw is not None else cfg.port)
            try:
                await leg.wait_quotes(time.monotonic() + cfg.ready_timeout_s + 20.0)
                await asyncio.sleep(max(0.0, duration_s - (time.monotonic() - t0)))
            finally:
                await leg.stop()
                leg.release()
    return leg.finish(t0)


async def _monitor(node, ids, risk: NodeRisk, audit: OrderAudit, readiness: Readiness, run: RunFolder,
                   errors: list[str]) -> None:
    """On the node's loop every 0.1 s: readiness (changes logged), decisions logged and counted, operator
    commands from the store applied, the journal flushed."""
    last_err = None
    while True:
        changed, snap = readiness.update(node, ids, risk.counters)
        if changed:
            run.log.write("readiness", **snap)
        audit.drain_decisions()
        err = risk.poll()
        if err and err != last_err:
            run.log.write("warning", message=err)
        last_err = err
        await asyncio.sleep(0.1)


def run_node(cfg: NodeConfig, duration_s: float, store_path: str | None = None, **kwargs) -> dict:
    """Blocking wrapper around :func:`run_node_async` on a fresh event loop (same keyword arguments)."""
    import ib_async.util

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:  # Jupyter: a loop already runs on this thread; asyncio.run would fail with a bare RuntimeError
        raise WorkbenchError("run_node cannot block inside a running event loop (Jupyter)",
                           hint="`await run_node_async(cfg, duration_s)` in the notebook, or run "
                                "`wb node run` as a subprocess (notebooks/04_paper_node.ipynb)")
    ib_async.util.getLoop.cache_clear()  # ib_async memoises the first loop it saw
    try:
        return asyncio.run(run_node_async(cfg, duration_s, store_path, **kwargs))
    finally:
        ib_async.util.getLoop.cache_clear()  # and must not hand the closed one to the next caller
