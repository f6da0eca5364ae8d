"""The risk book: positions, open orders, marks, PnL and gross exposure, kept incrementally.

Exposure is *gross*: ``(|long| + |short|) / equity``. It is kept per leg (one strategy in one
instrument, matching nautilus NETTING positions) without netting across strategies, which is the
conservative choice: two strategies long and short the same name both consume risk. Each leg carries
its *current* notional (the position) and its *potential* notional (worst case if every open order of
the leg fills: ``max(|pos + open_buys|, |pos - open_sells|)``); totals per book, bucket, group and
strategy are maintained by deltas so the gate reads them in O(1).

The numbers live in two arrays (``F``, ``R``; :mod:`workbench.risk.layout`) that the compiled kernels
update and the validator chain reads in one call; :class:`Leg` and :class:`Quote` are read-only views
on them, and ``buckets``/``strategies``/``groups`` are built on demand. The book also holds the
config numbers the chain needs (limits per leg, caps, rate windows), rewritten by :meth:`Book.configure`
under the gate's lock when the config is swapped.

Fills are applied exactly once: a fill id already seen is ignored, so a replayed partial fill cannot
double a position.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from workbench.risk import kernels
from workbench.risk import layout as lay
from workbench.risk._core import BookCore
from workbench.risk.config import CompiledConfig
from workbench.risk.layout import GLOBAL_RING, RING_HEAD, WIDTH
from workbench.risk.report import ExposureReport
from workbench.risk.types import OpenOrder

_NAN = float("nan")


def _field(col: int, doc: str = "") -> property:
    return property(lambda self: self.book.F.item(self.row, col), doc=doc)


class Leg:
    """One strategy in one instrument (a view on its row of the book)."""

    __slots__ = ("book", "row", "strategy", "instrument", "bucket", "group")

    def __init__(self, book: Book, row: int, strategy: str, instrument: str, bucket: str, group: str):
        self.book, self.row = book, row
        self.strategy, self.instrument, self.bucket, self.group = strategy, instrument, bucket, group

    pos = _field(lay.L_POS)
    avg = _field(lay.L_AVG)
    realized = _field(lay.L_REAL)
    open_buy = _field(lay.L_OB)
    open_sell = _field(lay.L_OS)
    cur = _field(lay.L_CUR, "current notional")
    pot = _field(lay.L_POT, "potential notional")
    upnl = _field(lay.L_UPNL)
    long = _field(lay.L_LONG, "signed current notional")
    mult = _field(lay.L_MULT, "the instrument multiplier when the leg was opened")


class Quote:
    """Top of book of one instrument (a view); ``legs`` are the legs its mark values, ``strategies`` their
    strategies, sorted (the guards a new mark updates, in a fixed order: kept here rather than rebuilt from
    ``legs`` on every quote)."""

    __slots__ = ("book", "row", "ts", "legs", "strategies")

    def __init__(self, book: Book, row: int):
        self.book, self.row, self.ts = book, row, 0
        self.legs: list[Leg] = []
        self.strategies: tuple[str, ...] = ()

    bid = _field(lay.Q_BID)
    ask = _field(lay.Q_ASK)
    mark = _field(lay.Q_MARK)


class Book(BookCore):
    """Mutable state owned by one gate; every method is called under the gate's lock."""

    def __init__(self, equity: float):
        self.equity = equity
        self.F = np.zeros((64, WIDTH))
        self.R = np.zeros((GLOBAL_RING + 1, RING_HEAD + 1024), dtype=np.int64)
        self.V = self.F[lay.VAL, : lay.NV]  # the values of the decision being made
        self._rows = lay.VAL + 1
        self._regimes = (0, 0)  # (first row, capacity) of the regime rows
        self.legs: dict[tuple[str, str], Leg] = {}
        self.quotes: dict[str, Quote] = {}
        self.orders: dict[str, OpenOrder] = {}
        self.fills_seen: set[str] = set()
        # strategy -> instrument -> leg row: the gate's lookup, two string-keyed gets and no key tuple
        self.rows: dict[str, dict[str, int]] = {}
        self._buckets: dict[str, int] = {}
        self._strategies: dict[str, int] = {}  # configured strategies get a row before their first leg
        self._used: dict[str, int] = {}  # strategies with a leg, in the order of their first leg
        self._groups: dict[str, int] = {}
        self.rings: dict[str, int] = {}  # strategy -> its rate-window ring (a row of R)

    # -- rows ----------------------------------------------------------------------------------------
    def _alloc(self) -> int:
        r = self._rows
        if r == len(self.F):
            F = np.zeros((2 * r, WIDTH))
            F[:r] = self.F
            self.F, self.V = F, F[lay.VAL, : lay.NV]
        self._rows = r + 1
        return r

    def _bucket(self, name: str, cfg: CompiledConfig) -> int:
        r = self._buckets.get(name)
        if r is None:
            r = self._buckets[name] = self._alloc()
            b = cfg.spec.exposure.buckets.get(name)
            self.F[r, lay.B_MAX] = b.max_pct if b is not None else _NAN
            self._relist(cfg)
        return r

    def _strategy(self, sid: str, cfg: CompiledConfig) -> int:
        r = self._strategies.get(sid)
        if r is None:
            r = self._strategies[sid] = self._alloc()
            self.R = np.vstack((self.R, np.zeros((1, self.R.shape[1]), dtype=np.int64)))
            self.F[r, lay.S_RING] = self.rings[sid] = len(self.R) - 1
            self._configure_strategy(r, sid, cfg)
        return r

    def _group(self, name: str, cfg: CompiledConfig) -> int:
        r = self._groups.get(name)
        if r is None:
            r = self._groups[name] = self._alloc()
            self.F[r, lay.G_MAX] = cfg.spec.exposure.group_max_pct.get(name, _NAN)
        return r

    def quote(self, instrument: str) -> Quote:
        q = self.quotes.get(instrument)
        if q is None:
            q = self.quotes[instrument] = Quote(self, self._alloc())
            self.F[q.row, lay.Q_FIRST] = self.F[q.row, lay.Q_LAST] = -1
        return q

    def leg(self, strategy: str, instrument: str, cfg: CompiledConfig) -> Leg:
        leg = self.legs.get((strategy, instrument))
        if leg is not None:
            return leg
        strat = cfg.spec.strategies.get(strategy)
        ins = cfg.instrument(instrument)
        bucket = strat.bucket if strat else ""
        b = self._bucket(bucket, cfg)
        s = self._strategy(strategy, cfg)
        if strategy not in self._used:
            self._used[strategy] = s
            self._set_list(lay.USED, self._used.values())
        g = self._group(ins.group, cfg) if ins.group else -1
        qt = self.quote(instrument)
        r = self._alloc()
        F = self.F
        F[r, lay.L_MULT] = ins.multiplier
        F[r, lay.L_QROW], F[r, lay.L_BROW], F[r, lay.L_SROW], F[r, lay.L_GROW] = qt.row, b, s, g
        F[r, lay.L_NEXT] = -1
        last = int(F[qt.row, lay.Q_LAST])  # append: a quote refreshes its legs in creation order
        if last >= 0:
            F[last, lay.L_NEXT] = r
        else:
            F[qt.row, lay.Q_FIRST] = r
        F[qt.row, lay.Q_LAST] = r
        self._configure_leg(r, strategy, instrument, cfg)
        leg = self.legs[(strategy, instrument)] = Leg(self, r, strategy, instrument, bucket, ins.group)
        self.rows.setdefault(strategy, {})[instrument] = r
        qt.legs.append(leg)
        qt.strategies = tuple(sorted({lg.strategy for lg in qt.legs}))
        return leg

    # -- config numbers ------------------------------------------------------------------------------
    def configure(self, cfg: CompiledConfig) -> None:
        """Write ``cfg``'s numbers into the book (the caller holds the gate's lock: a decision sees the
        old or the new numbers, never a mix)."""
        sp = cfg.spec
        self.equity = sp.equity
        regimes = sp.policy.regimes
        first, room = self._regimes
        if len(regimes) > room:
            first = self._alloc()
            for _ in regimes[1:]:
                self._alloc()  # consecutive rows: regime i is row first + i
            self._regimes = (first, len(regimes))
        F = self.F
        F[0, lay.C_EQUITY] = sp.equity
        F[0, lay.C_HARD_CAP] = sp.exposure.hard_cap_pct
        F[0, lay.C_BUDGET_PCT] = sp.budget.total_pct
        F[0, lay.C_CLIP] = 1.0 if sp.clip_to_limits else 0.0
        F[0, lay.C_MULT : lay.C_MULT + 4] = cfg.multipliers
        F[0, lay.C_RO_MASK] = sum(1 << s for s in cfg.reduce_only)
        F[0, lay.C_GWIN], F[0, lay.C_GCAP], F[0, lay.C_GWARN] = cfg.global_window
        F[0, lay.C_VORDER], F[0, lay.C_LAYOUT], F[0, lay.C_REG] = cfg.chain, cfg.layout, first
        for i, r in enumerate(regimes):
            F[first + i, lay.R_TOL] = r.tolerance_pct
            F[first + i, lay.R_FLAGS] = int(r.allow_derisk) | int(r.hard) << 1
        for sid in sp.strategies:
            self._strategy(sid, cfg)
        for sid, r in self._strategies.items():
            self._configure_strategy(r, sid, cfg)
        for name, r in self._buckets.items():
            b = sp.exposure.buckets.get(name)
            F[r, lay.B_MAX] = b.max_pct if b is not None else _NAN
        for name, r in self._groups.items():
            F[r, lay.G_MAX] = sp.exposure.group_max_pct.get(name, _NAN)
        for (sid, iid), leg in self.legs.items():
            self._configure_leg(leg.row, sid, iid, cfg)
        self._relist(cfg)

    def _configure_strategy(self, r: int, sid: str, cfg: CompiledConfig) -> None:
        s = cfg.spec.strategies.get(sid)
        F = self.F
        F[r, lay.S_QUOTA] = s.quota_pct if s is not None else _NAN
        F[r, lay.S_GUAR] = s.guaranteed_pct if s is not None else 0.0
        F[r, lay.S_RWIN], F[r, lay.S_RCAP], F[r, lay.S_RWARN] = cfg.rate_window(sid)

    def _configure_leg(self, r: int, sid: str, iid: str, cfg: CompiledConfig) -> None:
        ins = cfg.instrument(iid)
        self.F[r, lay.L_LIM : lay.L_LIM + 5] = cfg.limits(sid, iid)
        self.F[r, lay.L_IMULT], self.F[r, lay.L_LOT] = ins.multiplier, ins.lot

    def _relist(self, cfg: CompiledConfig) -> None:
        self._set_list(lay.BUCKETS, [self._buckets[b] for b, _ in cfg.bucket_max if b in self._buckets])
        self._set_list(lay.GUARANTEED, [self._strategy(s, cfg) for s, _ in cfg.guaranteed])

    def _set_list(self, row: int, rows) -> None:
        rows = list(rows)
        while len(rows) >= self.R.shape[1]:
            self.grow_rings()
        self.R[row, 0] = len(rows)
        self.R[row, 1 : 1 + len(rows)] = rows

    def grow_rings(self) -> None:
        """Double the width of ``R`` (rings full or a list too long), keeping every ring's FIFO order."""
        R = self.R
        cap = R.shape[1] - RING_HEAD
        new = np.zeros((len(R), RING_HEAD + 2 * cap), dtype=np.int64)
        new[:GLOBAL_RING, : R.shape[1]] = R[:GLOBAL_RING]
        for r in range(GLOBAL_RING, len(R)):
            head, n = R[r, 0], R[r, 1]
            new[r, 1] = n
            new[r, RING_HEAD : RING_HEAD + n] = np.roll(R[r, RING_HEAD:], -head)[:n]
        self.R = new

    # -- events --------------------------------------------------------------------------------------
    def set_mark(self, instrument: str, ts: int, bid: float, ask: float) -> Quote:
        q = self.quote(instrument)
        q.ts = ts
        kernels.set_mark(self.F, q.row, bid, ask)
        return q

    def add_order(
        self, leg: Leg, coid: str, intent_id: str, sign: int, qty: float, price: float, ts: int
    ) -> None:
        self.orders[coid] = OpenOrder(
            coid, intent_id, leg.strategy, leg.instrument, sign, qty, price, ts, leg.row
        )
        kernels.move_open(self.F, leg.row, sign, qty, price)

    def change_order(self, coid: str, new_remaining: float, price: float | None = None) -> None:
        o = self.orders[coid]
        delta = new_remaining - o.remaining
        o.remaining = new_remaining
        if price is not None:
            o.price = price
        if new_remaining <= 0:
            del self.orders[coid]
        kernels.move_open(self.F, o.row, o.sign, delta, 0.0)

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
        kernels.fill(self.F, leg.row, sign, qty, px)
        return True

    # -- totals --------------------------------------------------------------------------------------
    gross_cur = property(lambda self: self.F.item(lay.TOP, lay.T_GROSS_CUR))
    gross_pot = property(lambda self: self.F.item(lay.TOP, lay.T_GROSS_POT))
    long_cur = property(lambda self: self.F.item(lay.TOP, lay.T_LONG))
    short_cur = property(lambda self: self.F.item(lay.TOP, lay.T_SHORT))
    total_pnl = property(lambda self: self.F.item(lay.TOP, lay.T_PNL))

    @property
    def buckets(self) -> dict[str, list[float]]:
        """bucket -> [current, potential] notional (a copy)."""
        return {b: [self.F.item(r, lay.A_CUR), self.F.item(r, lay.A_POT)] for b, r in self._buckets.items()}

    @property
    def strategies(self) -> dict[str, list[float]]:
        """strategy -> [potential notional, PnL] for strategies with a leg (a copy)."""
        return {s: [self.F.item(r, lay.S_POT), self.F.item(r, lay.S_PNL)] for s, r in self._used.items()}

    @property
    def groups(self) -> dict[str, list[float]]:
        """group -> [potential notional] (a copy)."""
        return {g: [self.F.item(r, lay.G_POT)] for g, r in self._groups.items()}

    def strategy_pnl(self, strategy: str) -> float:
        r = self._used.get(strategy)
        return self.F.item(r, lay.S_PNL) if r is not None else 0.0

    def strategy_potential(self) -> dict[str, float]:
        return {s: c[0] for s, c in self.strategies.items()}

    def strategy_peaks(self) -> dict[str, float]:
        """The highest potential notional each strategy reached through an approval, in the order the
        strategies first reached one."""
        peaked = sorted((self.F.item(r, lay.S_PEAKED), s, r) for s, r in self._strategies.items())
        return {s: self.F.item(r, lay.S_PEAK) for k, s, r in peaked if k > 0.0}

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
        buckets = self.buckets
        return ExposureReport(
            ts,
            self.equity,
            self.gross_cur,
            self.gross_pot,
            self.long_cur,
            self.short_cur,
            {b: c[0] for b, c in buckets.items()},
            {b: c[1] for b, c in buckets.items()},
            {g: c[0] for g, c in self.groups.items()},
            pd.DataFrame(rows),
            cfg,
        )
