"""The node's risk wiring, the same as a backtest's (workbench/engine/backtest.py): one RiskGate from the
run file's ``risk`` config shared by every strategy, a Journal under the node's run id, RiskMetrics, the
RiskSupervisor actor (derisk playbook, kill-switch cancel-all, nautilus TradingState), plus what only a
live run has: the control endpoint (one loopback HTTP server with /health, /ready and /metrics) and the
poller that brings operator commands written to the store (offline ``wb risk halt``) into the gate.

The journal writes to the run folder's own database (``journal.duckdb``), never to the shared store
while the node runs; :func:`workbench.node.sharedstore.merge_journal` copies it into the store at stop.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import threading
import time
from pathlib import Path

import duckdb
from prometheus_client import generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from workbench.engine.gated import resolve_risk_config
from workbench.errors import WorkbenchError
from workbench.node.config import NodeConfig
from workbench.node.sharedstore import SharedStore
from workbench.node.telemetry import NodeCounters, Readiness
from workbench.risk.config import load_config
from workbench.risk.gate import RiskGate
from workbench.risk.journal import Journal
from workbench.risk.metrics import RiskMetrics

JOURNAL_FLUSH_S = 1.0  # the run database is at most this far behind the gate (crash recovery reads it)


def load_risk(cfg: NodeConfig):
    """The compiled risk config of ``cfg.risk``; a missing or bad file is a one-line error naming it."""
    path = resolve_risk_config(cfg.risk)
    if not path.is_file():
        raise WorkbenchError("risk config not found", where=str(path), hint="set `risk:` in the run file")
    return load_config(path)  # a bad config is the risk layer's one-line error naming the field


class NodeRisk:
    """Gate + journal + metrics for one node run; :meth:`serve` starts the endpoint, :meth:`poll` runs
    on the node's loop, :meth:`close` flushes and closes the journal."""

    def __init__(self, cfg: NodeConfig, run_id: str, journal_db: Path | None, config=None):
        self.run_id = run_id
        self.metrics = RiskMetrics()
        self.counters = NodeCounters()
        self.metrics.registry.register(self.counters)  # one /metrics: the gate's families and the node's
        config = config if config is not None else load_risk(cfg)
        # the journal's own database: the journal owns the connection (Journal.close closes it). One DuckDB
        # thread: its writes are a handful of rows a second on the node's loop, where a parallel plan only adds
        # worker wake-ups (~8 % of a flush's CPU)
        self.journal = (Journal(duckdb.connect(str(journal_db), config={"threads": 1}), run_id, owns=True)
                        if journal_db is not None else None)
        self.gate = RiskGate(config, journal=self.journal, metrics=self.metrics)
        self.server = None
        self.readiness: Readiness | None = None
        self._last_flush = time.monotonic()
        self.recorder = None  # the run's RunRecorder (order events), flushed with the journal
        self._store: SharedStore | None = None
        self._on_loop = lambda fn, timeout_s=30.0: fn()

    # -- endpoint ----------------------------------------------------------------------------------
    def serve(self, store: SharedStore, readiness: Readiness, *, port: int = 0, control_file=None):
        """Start the control endpoint (discovery file written) on the running loop's thread's behalf.
        Offline operator commands recorded in the store are applied to the gate here, before trading."""
        from workbench.ops.control import ControlServer

        self._store, self.readiness = store, readiness
        loop = asyncio.get_running_loop()
        loop_thread = threading.get_ident()

        def on_loop(fn, timeout_s: float = 30.0):
            """Run a command on the node's loop (the gate's listeners reach nautilus) and wait for it."""
            if threading.get_ident() == loop_thread:
                return fn()
            fut: concurrent.futures.Future = concurrent.futures.Future()

            def run():
                try:
                    fut.set_result(fn())
                except BaseException as exc:  # handed to the HTTP thread, which answers 400/500
                    fut.set_exception(exc)

            loop.call_soon_threadsafe(run)
            return fut.result(timeout=timeout_s)

        self._on_loop = on_loop
        try:
            server = ControlServer(self.gate, store, port=port, control_file=control_file, call=on_loop,
                                   probes={"/health": self._health, "/ready": self._ready, "/metrics": self._metrics})
        except OSError as exc:  # the port is taken (or not ours to bind)
            raise WorkbenchError(f"cannot listen on 127.0.0.1:{port}: {exc.strerror or exc}", where="--http-port",
                                 hint="another port, or 0 for a free one") from exc
        self.server = server.start()
        return self.server

    def _health(self):
        return 200, "application/json", b'{"status": "alive"}'

    def _ready(self):
        snap = self.readiness.snapshot if self.readiness is not None else {"ready": False, "reasons": ["starting"]}
        return (200 if snap["ready"] else 503), "application/json", json.dumps(snap).encode()

    def _metrics(self):
        # rendered on the node's loop: the counters' dicts are only ever touched there (no resize mid-scrape)
        try:
            return 200, CONTENT_TYPE_LATEST, self._on_loop(lambda: generate_latest(self.metrics.registry), 5.0)
        except concurrent.futures.TimeoutError:
            return 503, "application/json", b'{"error": "node event loop did not answer within 5 s"}'


    # -- on the loop -------------------------------------------------------------------------------
    def poll(self) -> str | None:
        """Apply operator commands written to the store since the last look (only opened when the file
        changed); flush the journal and the order events every JOURNAL_FLUSH_S. Returns an error line, or None."""
        err = None
        if self.server is not None and self._store is not None and self._store.changed():
            try:
                self.server.channel.sync()
            except WorkbenchError as exc:  # locked by a writer right now: the next poll tries again
                err = f"control poll: {exc.one_line()}"
        now = time.monotonic()
        if self.journal is not None and now - self._last_flush >= JOURNAL_FLUSH_S:
            self._last_flush = now
            self.journal.flush()
            if self.recorder is not None:  # order events too: a crashed node keeps all but the last second
                self.recorder.flush()
        return err

    def close(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None
        if self.journal is not None:
            self.journal.close()  # flushed, its connection closed (idempotent)
            if self.recorder is not None:  # the order-event recorder held the same connection
                self.recorder.store = None
