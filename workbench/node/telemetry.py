"""What a running node tells the outside: counters and latency (Prometheus), readiness, and the run
folder's JSON-lines log.

Everything here is fed on the node's event loop (message-bus handlers and the runner's monitor task);
the HTTP thread only reads the finished numbers and the readiness snapshot, so it never touches nautilus.
"""

from __future__ import annotations

import json
import threading
from bisect import bisect_left
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

from workbench.risk.types import Action

# tick-to-submit: the quote the decision used -> the order handed to the IB client or the sandbox
LATENCY_BUCKETS_S = (5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 1e-2, 2.5e-2, 1e-1, 1.0)
_SAMPLES_KEPT = 100_000  # raw samples for the summary's percentiles (the histogram keeps counting)


class RunLog:
    """One JSON object per line in ``events.jsonl``: ``{"ts", "kind", ...}``. ``secrets`` (the account
    id, the endpoint token) are replaced by ``***`` wherever they would appear: defence in depth, the
    callers already leave them out."""

    def __init__(self, path: Path, secrets: tuple[str, ...] = ()):
        self.path = path
        self._secrets = tuple(s for s in secrets if s)
        self._fh = open(path, "a", encoding="utf-8", buffering=1)  # line-buffered: a crash loses <= 1 line
        self._lock = threading.Lock()

    def secrets_add(self, *secrets: str) -> None:
        self._secrets += tuple(s for s in secrets if s)

    def write(self, kind: str, **fields) -> None:
        rec = {"ts": datetime.now(UTC).isoformat(timespec="microseconds"), "kind": kind, **fields}
        line = json.dumps(rec, default=str, sort_keys=False)
        for s in self._secrets:
            if s in line:
                line = line.replace(s, "***")
        with self._lock:
            if not self._fh.closed:
                self._fh.write(line + "\n")

    def close(self) -> None:
        with self._lock:
            self._fh.close()


class NodeCounters(Collector):
    """``node_*`` families for ``/metrics``: quotes, decisions by verdict, orders, fills, rejects by kind,
    reconnects, readiness, unapproved orders, and the tick-to-submit latency histogram."""

    def __init__(self):
        self.counts: Counter = Counter()  # quotes, orders, fills, reconnects
        self.decisions: Counter = Counter()  # verdict -> n
        self.rejects: Counter = Counter()  # OrderRejected / OrderDenied -> n
        self.ready = False
        self.unapproved = 0
        self.breaker_state = 0  # workbench/node/breaker.py BreakerState: 0 closed, 1 half-open, 2 open
        self._bucket_counts = [0] * (len(LATENCY_BUCKETS_S) + 1)
        self._sum_s = 0.0
        self.samples_s: list[float] = []

    def observe_tick_to_submit(self, seconds: float) -> None:
        self._bucket_counts[bisect_left(LATENCY_BUCKETS_S, seconds)] += 1
        self._sum_s += seconds
        if len(self.samples_s) < _SAMPLES_KEPT:
            self.samples_s.append(seconds)

    def latency_summary_ms(self) -> dict:
        xs = sorted(self.samples_s)
        if not xs:
            return {"n": 0, "p50": None, "p99": None, "max": None}

        def q(p: float) -> float:
            return round(xs[min(len(xs) - 1, int(p * len(xs)))] * 1e3, 4)

        return {"n": len(xs), "p50": q(0.50), "p99": q(0.99), "max": round(xs[-1] * 1e3, 4)}

    def collect(self):
        for name, doc in (("quotes", "Quotes received"), ("orders", "Orders created (OrderInitialized)"),
                          ("fills", "Fills"), ("reconnects", "Client reconnects after a lost connection"),
                          ("breaker_opens", "Times the circuit breaker opened (broker rejects)")):
            yield CounterMetricFamily(f"node_{name}", doc, value=self.counts[name])
        d = CounterMetricFamily("node_decisions", "Risk gate decisions seen by the node", labels=["verdict"])
        for verdict, n in sorted(self.decisions.items()):
            d.add_metric([verdict], n)
        yield d
        r = CounterMetricFamily("node_rejects", "Orders rejected by the venue or denied by nautilus",
                                labels=["kind"])
        for kind, n in sorted(self.rejects.items()):
            r.add_metric([kind], n)
        yield r
        yield GaugeMetricFamily("node_ready", "1 when /ready answers 200", value=int(self.ready))
        yield GaugeMetricFamily("node_breaker_state", "Circuit breaker: 0 closed, 1 half-open, 2 open",
                                value=self.breaker_state)
        yield GaugeMetricFamily("node_unapproved_orders", "Orders with no approved gate decision",
                                value=self.unapproved)
        cum, buckets = 0, []
        for bound, n in zip(LATENCY_BUCKETS_S, self._bucket_counts, strict=False):
            cum += n
            buckets.append((repr(bound), cum))
        buckets.append(("+Inf", cum + self._bucket_counts[-1]))
        yield HistogramMetricFamily("node_tick_to_submit_seconds",
                                    "Quote received -> order handed to the IB client or sandbox",
                                    buckets=buckets, sum_value=self._sum_s)


class OrderAudit:
    """Watches the message bus: counts quotes and order events, times tick-to-submit, logs each order
    event, and lists orders whose client order id has no approved gate decision (``unapproved``).

    Works on any nautilus kernel (a live node or a BacktestEngine's ``kernel``). Tick-to-submit runs from
    the receipt stamp (``ts_init``, the kernel clock) of the instrument's latest quote in the cache when the
    order is created (the quote the decision used) to the kernel clock at ``OrderSubmitted``: the per-quote
    handler only counts (one call per quote on every quote of the node: it does nothing it need not)."""

    def __init__(self, kernel, strategies, counters: NodeCounters, log: RunLog | None = None):
        self.strategies = list(strategies)
        self.counters = counters
        self.log = log
        self._cache, self._clock = kernel.cache, kernel.clock
        self._counts = counters.counts
        self.errors: list[str] = []
        # the unapproved check, incremental (each drain, i.e. every 0.1 s on a node, so /metrics shows it
        # while the node runs): orders created since the last drain, matched against the approved NEW
        # decisions not yet matched to an order. A gated order's decision is always made before nautilus
        # creates the order, so one drain sees both; a match leaves both sets (they stay small).
        self._unmatched: list[str] = []
        self._approved: set[str] = set()
        self._unapproved: list[str] = []
        self._t0: dict[str, int] = {}  # client order id -> ts_init of the quote its decision used
        self._decisions_seen: dict[str, int] = {}
        kernel.msgbus.subscribe(topic="data.quotes.*", handler=self._on_quote)
        kernel.msgbus.subscribe(topic="events.order.*", handler=self._on_event)

    def _on_quote(self, tick) -> None:
        self._counts["quotes"] += 1

    def _on_event(self, ev) -> None:
        name = type(ev).__name__
        coid = ev.client_order_id.value
        c = self.counters
        if name == "OrderInitialized" and ev.reconciliation:
            # an order the venue reported at start (e.g. left working by a previous run): not created
            # here, so not this run's to approve; counted apart
            c.counts["orders_reconciled"] += 1
        elif name == "OrderInitialized":
            c.counts["orders"] += 1
            self._unmatched.append(coid)
            q = self._cache.quote_tick(ev.instrument_id)
            if q is not None:
                self._t0[coid] = q.ts_init
        elif name == "OrderSubmitted":
            t = self._t0.pop(coid, None)
            if t is not None:
                c.observe_tick_to_submit((self._clock.timestamp_ns() - t) / 1e9)
        elif name == "OrderFilled":
            c.counts["fills"] += 1
        elif name == "OrderDenied" and getattr(ev, "reason", "") == "MARKET_EXIT_IN_PROGRESS":
            c.counts["denied_during_exit"] += 1  # the strategy's new orders while stop flattens: expected
        elif name in ("OrderRejected", "OrderDenied"):
            c.rejects[name] += 1
            self.errors.append(f"{name}: {getattr(ev, 'reason', '')}")
        if self.log is not None:
            self.log.write("order", event=name, **_order_fields(ev))

    def drain_decisions(self) -> int:
        """Count and log the decisions made since the last call (verdict, reasons); returns how many."""
        n = 0
        for s in self.strategies:
            ds = s.decisions
            start = self._decisions_seen.get(s.id.value, 0)
            for d in ds[start:]:
                self.counters.decisions[str(d.verdict)] += 1
                if d.approved and d.intent.action is Action.NEW:
                    self._approved.add(d.client_order_id)
                if self.log is not None:
                    i = d.intent
                    self.log.write("decision", strategy=i.strategy_id, instrument=i.instrument_id,
                                   intent_id=i.intent_id, client_order_id=d.client_order_id,
                                   action=str(i.action), side=str(i.side), qty=str(i.qty),
                                   price=None if i.price is None else str(i.price), reduce_only=i.reduce_only,
                                   tag=i.tag, verdict=str(d.verdict),
                                   reasons=[str(r) for r in d.reasons])
            n += len(ds) - start
            self._decisions_seen[s.id.value] = len(ds)
        for coid in self._unmatched:
            if coid in self._approved:
                self._approved.discard(coid)
            else:
                self._unapproved.append(coid)
        self._unmatched.clear()
        self.counters.unapproved = len(self._unapproved)
        return n

    def unapproved(self) -> list[str]:
        """Client order ids nautilus saw created with no approved NEW decision of the gate behind them
        (up to now: the decisions made since the last drain are drained first)."""
        self.drain_decisions()
        return list(self._unapproved)


def _order_fields(ev) -> dict:
    """The loggable part of an order event (no account id)."""
    out = {"client_order_id": ev.client_order_id.value, "strategy": ev.strategy_id.value,
           "instrument": ev.instrument_id.value, "ts_event": ev.ts_event}
    for attr in ("side", "order_side"):
        v = getattr(ev, attr, None)
        if v is not None:
            out["side"] = "BUY" if int(v) == 1 else "SELL"
            break
    for attr in ("quantity", "last_qty", "last_px", "price", "reason"):
        v = getattr(ev, attr, None)
        if v is not None and v != "":
            out[attr] = str(v)
    return out


class Readiness:
    """The ``/ready`` verdict, recomputed on the node's loop: clients connected, instruments loaded,
    reconciliation done (the kernel starts the trader only after it), quotes flowing for every instrument
    within ``stale_s``, plus any ``extra`` check (a callable returning a reason or None)."""

    def __init__(self, stale_s: float, extra=()):
        self.stale_s = stale_s
        self.extra = list(extra)
        self.snapshot: dict = {"ready": False, "reasons": ["starting"]}
        self._was_connected = False
        self._lost = False
        # () -> bool: the broker link under nautilus's clients (workbench/node/faults.py BrokerLink), whose
        # own flags stay "connected" through an IB socket drop or a 1100
        self.link = None

    def update(self, node, ids, counters: NodeCounters) -> tuple[bool, dict]:
        """Recompute; returns (changed, snapshot). Counts a reconnect when clients come back after a loss."""
        reasons = []
        k = node.kernel
        connected = bool(k.data_engine.check_connected() and k.exec_engine.check_connected()
                         and (self.link is None or self.link()))
        if connected and self._lost:
            counters.counts["reconnects"] += 1
            self._lost = False
        if not connected:
            self._lost = self._lost or self._was_connected
            reasons.append("clients not connected")
        self._was_connected = connected
        missing = [str(i) for i in ids if node.cache.instrument(i) is None]
        if missing:
            reasons.append(f"instruments not loaded: {missing}")
        if not node.trader.is_running:
            reasons.append("reconciliation not done (trader not started)")
        now, cache = k.clock.timestamp_ns(), node.cache
        stale = [str(i) for i in ids if (q := cache.quote_tick(i)) is None or now - q.ts_init > self.stale_s * 1e9]
        if stale:
            reasons.append(f"no quotes within {self.stale_s:g}s for {stale}")
        for check in self.extra:
            why = check()
            if why:
                reasons.append(str(why))
        snap = {"ready": not reasons, "reasons": reasons}
        changed = snap != self.snapshot
        self.snapshot = snap
        counters.ready = snap["ready"]
        return changed, snap
