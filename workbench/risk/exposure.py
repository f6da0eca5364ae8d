"""The risk book: positions, open orders, marks, PnL and gross exposure, kept incrementally.

Exposure is *gross*: ``(|long| + |short|) / equity``. It is kept per leg (one strategy in one
instrument, matching nautilus NETTING positions) without netting across strategies, which is the
conservative choice: two strategies long and short the same name both consume risk. Each leg carries
its *current* notional (the position) and its *potential* notional (worst case if every open order of
the leg fills: ``max(|pos + open_buys|, |pos - open_sells|)``); totals per book, bucket, group and
strategy are maintained by deltas so the gate reads them in O(1).

Fills are applied exactly once: a fill id already seen is ignored, so a replayed partial fill cannot
double a position.
"""

from __future__ import annotations

import pandas as pd

from workbench.risk.config import CompiledConfig


class Leg:
    __slots__ = (
        "strategy",
        "instrument",
        "bucket",
        "group",
        "mult",
        "pos",
        "avg",
        "realized",
        "open_buy",
        "open_sell",
        "cur",
        "pot",
        "upnl",
        "long",
        "cells",
    )

    def __init__(self, strategy: str, instrument: str, bucket: str, group: str, mult: float):
        self.strategy, self.instrument, self.bucket, self.group, self.mult = (
            strategy,
            instrument,
            bucket,
            group,
            mult,
        )
        self.pos = self.avg = self.realized = self.open_buy = self.open_sell = 0.0
        self.cur = self.pot = self.upnl = 0.0
        self.long = 0.0  # signed current notional, split into long/short totals
        self.cells: tuple = ()  # (bucket [cur, pot], strategy [pot, pnl], group [pot] | None), see Book


class Quote:
    __slots__ = ("bid", "ask", "mark", "ts", "legs")

    def __init__(self):
        self.bid = self.ask = self.mark = 0.0
        self.ts = 0
        self.legs: list[Leg] = []


class OpenOrder:
    __slots__ = ("client_order_id", "intent_id", "strategy", "instrument", "sign", "remaining", "price", "ts")

    def __init__(self, client_order_id, intent_id, strategy, instrument, sign, remaining, price, ts):
        self.client_order_id, self.intent_id, self.strategy, self.instrument = (
            client_order_id,
            intent_id,
            strategy,
            instrument,
        )
        self.sign, self.remaining, self.price, self.ts = sign, remaining, price, ts


class Book:
    """Mutable state owned by one gate; every method is called under the gate's lock."""

    def __init__(self, equity: float):
        self.equity = equity
        self.legs: dict[tuple[str, str], Leg] = {}
        self.quotes: dict[str, Quote] = {}
        self.orders: dict[str, OpenOrder] = {}
        self.fills_seen: set[str] = set()
        self.gross_cur = self.gross_pot = self.long_cur = self.short_cur = 0.0
        # Running totals live in small mutable cells shared with the legs, so an update is an index
        # add instead of a dict lookup: bucket -> [current, potential], strategy -> [potential, pnl],
        # group -> [potential].
        self.buckets: dict[str, list[float]] = {}
        self.strategies: dict[str, list[float]] = {}
        self.groups: dict[str, list[float]] = {}
        self.total_pnl = 0.0

    # -- structure -----------------------------------------------------------------------------------
    def quote(self, instrument: str) -> Quote:
        q = self.quotes.get(instrument)
        if q is None:
            q = self.quotes[instrument] = Quote()
        return q

    def leg(self, strategy: str, instrument: str, cfg: CompiledConfig) -> Leg:
        key = (strategy, instrument)
        leg = self.legs.get(key)
        if leg is None:
            strat = cfg.spec.strategies.get(strategy)
            ins = cfg.instrument(instrument)
            leg = Leg(strategy, instrument, strat.bucket if strat else "", ins.group, ins.multiplier)
            leg.cells = (
                self.buckets.setdefault(leg.bucket, [0.0, 0.0]),
                self.strategies.setdefault(strategy, [0.0, 0.0]),
                self.groups.setdefault(leg.group, [0.0]) if leg.group else None,
            )
            self.legs[key] = leg
            self.quote(instrument).legs.append(leg)
        return leg

    # -- incremental totals --------------------------------------------------------------------------
    def refresh(self, leg: Leg) -> None:
        # Runs on every approval and quote: conditional expressions instead of max()/abs() calls,
        # which cost several times more per call on CPython 3.12.
        mark = self.quotes[leg.instrument].mark
        pos = leg.pos
        k = mark * leg.mult
        cur = (pos if pos >= 0.0 else -pos) * k
        a = pos + leg.open_buy
        b = pos - leg.open_sell
        a = a if a >= 0.0 else -a
        b = b if b >= 0.0 else -b
        pot = (a if a > b else b) * k
        signed = pos * k
        upnl = (mark - leg.avg) * pos * leg.mult if pos else 0.0
        d_cur = cur - leg.cur
        d_pot = pot - leg.pot
        d_upnl = upnl - leg.upnl
        self.gross_cur += d_cur
        self.gross_pot += d_pot
        old = leg.long
        if signed != old:
            self.long_cur += (signed if signed > 0.0 else 0.0) - (old if old > 0.0 else 0.0)
            self.short_cur += (-signed if signed < 0.0 else 0.0) - (-old if old < 0.0 else 0.0)
        cell = leg.cells
        cell[0][0] += d_cur
        cell[0][1] += d_pot
        cell[1][0] += d_pot
        cell[1][1] += d_upnl
        if cell[2] is not None:
            cell[2][0] += d_pot
        self.total_pnl += d_upnl
        leg.cur, leg.pot, leg.long, leg.upnl = cur, pot, signed, upnl

    def potential_after(self, leg: Leg, sign: int, qty: float, mark: float) -> float:
        """The leg's potential notional if an extra order of ``sign * qty`` were working."""
        ob = leg.open_buy + (qty if sign > 0 else 0.0)
        os_ = leg.open_sell + (qty if sign < 0 else 0.0)
        return max(abs(leg.pos + ob), abs(leg.pos - os_)) * mark * leg.mult

    # -- events --------------------------------------------------------------------------------------
    def set_mark(self, instrument: str, ts: int, bid: float, ask: float) -> Quote:
        q = self.quote(instrument)
        q.bid, q.ask, q.ts, q.mark = bid, ask, ts, (bid + ask) * 0.5
        for leg in q.legs:
            self.refresh(leg)
        return q

    def add_order(
        self, leg: Leg, coid: str, intent_id: str, sign: int, qty: float, price: float, ts: int
    ) -> None:
        self.orders[coid] = OpenOrder(coid, intent_id, leg.strategy, leg.instrument, sign, qty, price, ts)
        if sign > 0:
            leg.open_buy += qty
        else:
            leg.open_sell += qty
        if self.quote(leg.instrument).mark == 0.0 and price > 0:
            self.quote(leg.instrument).mark = price  # no quote yet: value the order at its own price
        self.refresh(leg)

    def change_order(self, coid: str, new_remaining: float, price: float | None = None) -> None:
        o = self.orders[coid]
        leg = self.legs[(o.strategy, o.instrument)]
        delta = new_remaining - o.remaining
        if o.sign > 0:
            leg.open_buy += delta
        else:
            leg.open_sell += delta
        o.remaining = new_remaining
        if price is not None:
            o.price = price
        if new_remaining <= 0:
            del self.orders[coid]
        self.refresh(leg)

    def close_order(self, coid: str) -> bool:
        if coid not in self.orders:
            return False
        self.change_order(coid, 0.0)
        return True

    def apply_fill(self, fill_id: str, leg: Leg, sign: int, qty: float, px: float, coid: str | None) -> bool:
        """Apply a (partial) fill exactly once; returns False for a fill id already applied."""
        if fill_id in self.fills_seen:
            return False
        self.fills_seen.add(fill_id)
        if coid is not None and coid in self.orders:
            o = self.orders[coid]
            self.change_order(coid, max(o.remaining - qty, 0.0))
        q = sign * qty
        pos = leg.pos
        if pos == 0.0 or (pos > 0) == (q > 0):
            leg.avg = (leg.avg * abs(pos) + px * qty) / (abs(pos) + qty)
        else:
            closing = min(qty, abs(pos))
            realized = closing * (px - leg.avg) * (1.0 if pos > 0 else -1.0) * leg.mult
            leg.realized += realized
            leg.cells[1][1] += realized
            self.total_pnl += realized
            if abs(q) > abs(pos):
                leg.avg = px
        leg.pos = pos + q
        if leg.pos == 0.0:
            leg.avg = 0.0
        qt = self.quote(leg.instrument)
        if qt.mark == 0.0:
            qt.mark = px
        self.refresh(leg)
        return True

    def strategy_pnl(self, strategy: str) -> float:
        cell = self.strategies.get(strategy)
        return cell[1] if cell is not None else 0.0

    def strategy_potential(self) -> dict[str, float]:
        return {s: c[0] for s, c in self.strategies.items()}

    # -- reporting -----------------------------------------------------------------------------------
    def snapshot(self, cfg: CompiledConfig, ts: int = 0) -> ExposureReport:
        rows = []
        for (s, i), leg in sorted(self.legs.items()):
            rows.append(
                {
                    "strategy": s,
                    "instrument_id": i,
                    "bucket": leg.bucket,
                    "group": leg.group,
                    "position": leg.pos,
                    "avg_price": leg.avg,
                    "mark": self.quote(i).mark,
                    "open_buy": leg.open_buy,
                    "open_sell": leg.open_sell,
                    "current": leg.cur,
                    "potential": leg.pot,
                    "realized_pnl": leg.realized,
                    "unrealized_pnl": leg.upnl,
                }
            )
        return ExposureReport(
            ts,
            self.equity,
            self.gross_cur,
            self.gross_pot,
            self.long_cur,
            self.short_cur,
            {b: c[0] for b, c in self.buckets.items()},
            {b: c[1] for b, c in self.buckets.items()},
            {g: c[0] for g, c in self.groups.items()},
            pd.DataFrame(rows),
            cfg,
        )


class ExposureReport:
    """A point-in-time exposure breakdown (``arch``-style: ``summary()``, ``to_frame()``, ``plot()``)."""

    def __init__(
        self,
        ts,
        equity,
        gross_cur,
        gross_pot,
        long_cur,
        short_cur,
        bucket_cur,
        bucket_pot,
        group_pot,
        legs: pd.DataFrame,
        cfg: CompiledConfig,
    ):
        self.ts, self.equity = ts, equity
        pct = 100.0 / equity
        self.gross_exposure_pct = gross_cur * pct
        self.potential_exposure_pct = gross_pot * pct
        self.long_gross_pct = long_cur * pct
        self.short_gross_pct = short_cur * pct
        self.buckets = {
            b: {
                "current_pct": bucket_cur.get(b, 0.0) * pct,
                "potential_pct": bucket_pot.get(b, 0.0) * pct,
                "target_pct": spec.target_pct,
                "max_pct": spec.max_pct,
            }
            for b, spec in cfg.spec.exposure.buckets.items()
        }
        self.group_exposure_pct = {g: v * pct for g, v in sorted(group_pot.items())}
        self.legs = legs

    def to_frame(self) -> pd.DataFrame:
        return self.legs.copy()

    def summary(self) -> str:
        lines = [
            f"gross {self.gross_exposure_pct:.2f}% (long {self.long_gross_pct:.2f}% / short "
            f"{self.short_gross_pct:.2f}%), potential {self.potential_exposure_pct:.2f}% of equity "
            f"{self.equity:,.0f}"
        ]
        for b, v in self.buckets.items():
            lines.append(
                f"  {b:<8} current {v['current_pct']:.2f}% potential {v['potential_pct']:.2f}% "
                f"target {v['target_pct']}% max {v['max_pct']}%"
            )
        return "\n".join(lines)

    def plot(self):
        import plotly.graph_objects as go

        names = list(self.buckets)
        fig = go.Figure()
        fig.add_bar(name="current %", x=names, y=[self.buckets[b]["current_pct"] for b in names])
        fig.add_bar(name="potential %", x=names, y=[self.buckets[b]["potential_pct"] for b in names])
        fig.add_scatter(name="max %", x=names, y=[self.buckets[b]["max_pct"] for b in names], mode="markers")
        fig.update_layout(title="Exposure by bucket (% equity)", barmode="group")
        return fig
