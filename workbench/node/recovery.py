"""Crash recovery: what a restarted node believes vs what the broker holds.

After ``kill -9`` the node's in-memory cache is gone; the broker (IB, or our simulator) still holds the
orders and the position. On restart nautilus's live reconciliation (``LiveExecEngine``: the IB exec
client's open-order, execution and position reports) rebuilds the cache before the trader starts. Here:

- :func:`claim_external`, :func:`adopt_reconciled` — the restarted node takes over what the killed one left:
  each gated strategy claims its instrument's reconciled orders and position (nautilus ``EXTERNAL`` otherwise,
  which no stop closes) and the gate books the working ones, so the stop cancels and closes them.
- :class:`RecoveryProbe` — a non-trading strategy entry added to a run file: when the trader starts (i.e.
  after reconciliation) and after every order/position event it writes the node's view (net positions,
  open orders by client order id) to a JSON file, atomically, tagged with its pid.
- :func:`broker_view` — the broker's book of record from the simulator's ``--state`` file: positions, working
  orders by client order id (IB ``orderRef`` minus the adapter's ``:orderId`` suffix), and duplicates: client
  order ids or (client, order id) pairs the broker accepted more than once.

The kill -9 campaign that uses them (node view vs broker view, trials) is a test/benchmark harness:
``benchmarks/crash.py`` (tests/node/test_crash.py runs 3 kills, ``python -m benchmarks node`` 20+).

A client order id is the gate's ``RK-<intent id>``; the intent id hashes the decision (strategy, instrument,
side, quantity, price, exchange-clock time, sequence), so a re-sent intent would reuse the id and show up
as a duplicate ``orderRef`` at the broker.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections import Counter
from decimal import Decimal
from pathlib import Path

from nautilus_trader.config import StrategyConfig
from nautilus_trader.model.identifiers import InstrumentId
from nautilus_trader.trading.strategy import Strategy

ACTIVE = frozenset({"PendingSubmit", "PreSubmitted", "Submitted", "ApiPending", "PendingCancel"})


# ------------------------------------------------------------------------------- adoption after a restart
def claim_external(entries: list[dict]) -> list[dict]:
    """The run file's strategy entries for the node's build, each gated strategy claiming its instrument
    (nautilus ``external_order_claims``): reconciliation then gives the broker's working orders and
    position there to that strategy instead of ``EXTERNAL``, whose orders no stop cancels and whose position
    no stop closes (the residual a restart after ``kill -9`` used to leave). The run file itself is not
    changed (its entries stay byte-identical to the backtest's); an entry that sets its own claims keeps
    them; only the first gated strategy of an instrument claims it (nautilus allows one)."""
    from nautilus_trader.common.config import resolve_path

    from workbench.engine.gated import GatedStrategy

    out, claimed = [], set()
    for e in entries:
        conf = e.get("config") or {}
        iid = conf.get("instrument_id")
        claims = conf.get("external_order_claims")
        if claims is not None:
            claimed.update(str(c) for c in claims)
        elif iid is not None and str(iid) not in claimed and issubclass(resolve_path(e["strategy_path"]), GatedStrategy):
            claimed.add(str(iid))
            e = {**e, "config": {**conf, "external_order_claims": [str(iid)]}}
        out.append(e)
    return out


def adopt_reconciled(supervisor) -> list[str]:
    """At trader start (after reconciliation; the RiskSupervisor starts before the strategies): book into
    the run's gate what the gated strategies hold without a decision of this run, i.e. what they claimed
    from the broker (:func:`claim_external`). Booked, the working orders count in the position and exposure
    checks and their cancels are known orders (not UNKNOWN_ORDER), and the position's reduce-only close
    passes the gate, so the stop cancels and closes them like any other. One line per item booked."""
    from nautilus_trader.model.enums import OrderSide

    from workbench.risk.types import Side

    gate, cache, out = supervisor.gate, supervisor.cache, []
    ts = supervisor.clock.timestamp_ns()
    for sid, strategy in sorted(supervisor.strategies.items()):
        positions = {p.instrument_id: p for p in cache.positions_open(strategy_id=strategy.id)}
        for o in strategy.orders_working():  # open and in flight, sorted by client order id
            coid = o.client_order_id.value
            # no quote has arrived yet at trader start: a market order is valued at the position's price;
            # with none either the price is NaN and the gate refuses to book it (logged, counted), not 0
            p = positions.get(o.instrument_id)
            price = o.price.as_double() if o.has_price else float(p.avg_px_open) if p is not None else float("nan")
            side = Side.BUY if o.side == OrderSide.BUY else Side.SELL
            if gate.adopt_order(coid, sid, o.instrument_id.value, side, o.leaves_qty.as_double(), price, ts):
                out.append(f"order {coid} {side} {o.leaves_qty} {o.instrument_id} @ {price:g}")
        for iid, p in sorted(positions.items(), key=lambda kv: kv[0].value):
            leg = gate.book.legs.get((sid, iid.value))
            diff = float(p.signed_qty) - (leg.pos if leg is not None else 0.0)
            if diff:  # the gate's position becomes the broker's: one fill at the position's average price
                side = Side.BUY if diff > 0 else Side.SELL
                gate.on_fill(f"ADOPTED:{sid}:{iid.value}:{ts}", None, ts, abs(diff), float(p.avg_px_open),
                             strategy_id=sid, instrument_id=iid.value, side=side)
                out.append(f"position {sid} {iid.value} {diff:+g} @ {float(p.avg_px_open):g}")
    return out


class RecoveryProbeConfig(StrategyConfig, frozen=True):
    """instrument_id: the instrument whose position is reported; out: the JSON file written."""

    instrument_id: str
    out: str


class RecoveryProbe(Strategy):
    """Writes the node's own view (position, open orders) after reconciliation and on every change."""

    def __init__(self, config: RecoveryProbeConfig) -> None:
        super().__init__(config)
        self.iid = InstrumentId.from_str(config.instrument_id)
        self.writes = 0

    def on_start(self) -> None:
        # the kernel starts the trader only after execution reconciliation: this is the reconciled view
        self.msgbus.subscribe(topic="events.order.*", handler=self._changed)
        self.msgbus.subscribe(topic="events.position.*", handler=self._changed)
        self._changed(None)

    def _changed(self, _event) -> None:
        orders = sorted((o.client_order_id.value, o.status_string(), o.strategy_id.value)
                        for o in self.cache.orders_open())
        owners = sorted((p.strategy_id.value, float(p.signed_qty)) for p in self.cache.positions_open(instrument_id=self.iid))
        view = {"pid": os.getpid(), "seq": self.writes, "ts": self.clock.timestamp_ns(),
                "position": float(self.portfolio.net_position(self.iid)), "open_orders": orders,
                "positions_by_strategy": owners}
        self.writes += 1
        _atomic_write(Path(self.config.out), json.dumps(view))


def _atomic_write(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=".probe-", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def coid_of(order_ref: str) -> str:
    """The nautilus client order id in an IB ``orderRef`` (the 1.231 adapter sends ``<coid>:<orderId>``)."""
    head, sep, tail = order_ref.rpartition(":")
    return head if sep and tail.isdigit() else order_ref


def broker_view(state_path: str | Path) -> dict:
    """The simulator's account state (its ``--state`` file, written atomically on every change)."""
    doc = json.loads(Path(state_path).read_text(encoding="utf-8"))
    orders = doc["orders"]
    refs = Counter(coid_of(o["order_ref"]) for o in orders if o["order_ref"])
    ids = Counter((o["client_id"], o["order_id"]) for o in orders)
    return {
        "position": float(sum(Decimal(p["qty"]) for p in doc["positions"])),
        "open_orders": sorted(coid_of(o["order_ref"]) for o in orders if o["status"] in ACTIVE),
        "orders": len(orders),
        "duplicate_orders": sum(n - 1 for n in refs.values() if n > 1) + sum(n - 1 for n in ids.values() if n > 1),
    }
