"""The exposure policy: exchange-calendar time regimes, the decision table, and derisk playbooks.

Regimes are anchored to the *exchange session* (``open+15m``, ``close-15m``), resolved through
``exchange_calendars``, so on a half day (e.g. the day after Thanksgiving, close 13:00 ET) LATE and CLOSE
move with the early close. The table is evaluated top to bottom and the first matching row wins, which
makes it deterministic and easy to read:

====  =====================================================================  =====================
row   condition                                                              mode
====  =====================================================================  =====================
1     current gross > hard cap                                               HARD_DERISK
2     regime allows derisk and current gross >= regime tolerance             HARD if regime.hard else SOFT
3     regime allows derisk and a bucket's current > its max                  SOFT_DERISK
4     potential > hard cap, potential >= tolerance, a bucket's potential >    THROTTLE_NEW_ORDERS
      its max, or current >= tolerance where derisk is not allowed
5     otherwise                                                              NORMAL
====  =====================================================================  =====================

Tolerance is the level where action *starts* (``>=``); the hard cap is a level never to be *exceeded*
(``>``). Derisk playbooks turn a mode into reducing intents; those intents go through the same gate.
"""

from __future__ import annotations

import math

import exchange_calendars as xcals
import numpy as np
import pandas as pd

from workbench.risk._core import ClockCore
from workbench.risk.config import CompiledConfig, RegimeSpec
from workbench.risk.exposure import Book, Leg
from workbench.risk.kernels import decide_core
from workbench.risk.layout import BUCKETS, CODES
from workbench.risk.types import OrderIntent, PolicyMode, Side, exact_decimal

_CALENDARS: dict[str, xcals.ExchangeCalendar] = {}
# (calendar, local midnight) -> (day start, day end, open, close) in UTC ns; 0/0 for a non-session day.
# Calendars are immutable data, so this cache is shared by every clock.
_SESSIONS: dict[tuple[str, int], tuple[int, int, int, int]] = {}


def _calendar(name: str) -> xcals.ExchangeCalendar:
    cal = _CALENDARS.get(name)
    if cal is None:
        cal = _CALENDARS[name] = xcals.get_calendar(name)
    return cal


class RegimeClock(ClockCore):
    """Maps an exchange timestamp to its time regime; one calendar lookup per local day, cached."""

    def __init__(self, cfg: CompiledConfig):
        self.cfg = cfg
        self.cal = _calendar(cfg.spec.policy.calendar)
        self.specs = cfg.spec.policy.regimes
        self._outside = next(i for i, r in enumerate(self.specs) if r.name == cfg.spec.policy.outside_session)
        self._win = (0, -1)
        self._bounds: list[tuple[int, int]] = []  # (start ns, regime index)
        self._open = self._close = 0
        self._lo, self._hi, self._cached = 0, -1, 0  # the last regime interval [lo, hi) and its index

    def _load(self, ts: int) -> None:
        local = pd.Timestamp(ts, tz="UTC").tz_convert(self.cal.tz)
        day = local.normalize()
        key = (self.cfg.spec.policy.calendar, day.value)
        got = _SESSIONS.get(key)
        if got is None:
            start = int(day.tz_convert("UTC").value)
            end = int((day + pd.Timedelta(days=1)).tz_convert("UTC").value)
            date = day.tz_localize(None)
            o = c = 0
            if self.cal.first_session <= date <= self.cal.last_session and self.cal.is_session(date):
                o_ts, c_ts = self.cal.session_open_close(date)
                o, c = int(o_ts.value), int(c_ts.value)
            got = _SESSIONS[key] = (start, end, o, c)
        start, end, self._open, self._close = got
        self._win = (start, end)
        self._bounds = []
        if self._open:
            bounds = []
            for i, (_, anchor, minutes) in enumerate(self.cfg.regimes):
                base = self._open if anchor == "open" else self._close
                bounds.append((base + int(minutes * 60e9), i))
            self._bounds = sorted(bounds, key=lambda b: b[0])

    def regime(self, ts: int) -> RegimeSpec:
        """The regime in force at exchange time ``ts``."""
        return self.specs[self.index(ts)]

    def index(self, ts: int) -> int:
        """Position in the config's regime list of the regime at ``ts``; O(1) while ``ts`` stays in the
        last interval."""
        if self._lo <= ts < self._hi:
            return self._cached
        if not self._win[0] <= ts < self._win[1]:
            self._load(ts)
        lo, hi = self._win
        current = self._outside
        if self._bounds and self._open <= ts < self._close:
            for start, i in self._bounds:
                if ts >= start:
                    current, lo = i, start
                else:
                    hi = start
                    break
            else:
                hi = self._close
        elif self._bounds and ts < self._open:
            hi = self._open
        elif self._bounds:
            lo = self._close
        self._lo, self._hi, self._cached = lo, hi, current
        return current

    def minutes_to_close(self, ts: int) -> float:
        """Minutes to the session close (NaN outside a session)."""
        self.index(ts)
        return (self._close - ts) / 60e9 if self._bounds and self._open <= ts < self._close else math.nan


def decide(
    cfg: CompiledConfig,
    regime: RegimeSpec,
    equity: float,
    gross_cur: float,
    gross_pot: float,
    buckets: dict[str, list[float]],
) -> tuple[PolicyMode, str]:
    """The decision table (see module docstring) on notionals; returns (mode, row code). The gate runs
    the same compiled table on its book inside every decision; the human-readable text is built by
    :func:`explain` only on a change."""
    cells = [(*buckets[b][:2], mx) for b, mx in cfg.bucket_max if b in buckets]
    table = np.array(cells, dtype=np.float64).reshape(len(cells), 3)
    rows = np.zeros((BUCKETS + 1, len(cells) + 1), dtype=np.int64)  # the kernel's row list layout
    rows[BUCKETS] = [len(cells), *range(len(cells))]
    flags = int(regime.allow_derisk) | int(regime.hard) << 1
    mode, code = decide_core(
        equity / 100.0,
        cfg.spec.exposure.hard_cap_pct,
        regime.tolerance_pct,
        flags,
        gross_cur,
        gross_pot,
        table,
        rows,
    )
    return PolicyMode(mode), CODES[code]


def explain(
    code: str, cfg: CompiledConfig, regime: RegimeSpec, equity: float, gross_cur: float, gross_pot: float
) -> str:
    pct = 100.0 / equity
    return (
        f"{code}: regime {regime.name} tolerance {regime.tolerance_pct}% hard cap "
        f"{cfg.spec.exposure.hard_cap_pct}%, gross {gross_cur * pct:.2f}% potential {gross_pot * pct:.2f}%"
    )


def derisk_intents(
    mode: PolicyMode, cfg: CompiledConfig, book: Book, regime: RegimeSpec, ts: int, seq0: int
) -> list[OrderIntent]:
    """Reducing intents for ``mode``.

    SOFT: passive limit orders at/near the touch (sell at ``ask - k*tick``, never below ``bid + tick``
    when the spread allows), sized to bring gross back under ``tolerance`` taking the lowest-priority
    strategies and the largest legs first. HARD: marketable limits crossing the spread (sell at the bid,
    buy at the ask), 10% of each position per step (``hard_chunk_pct``). Quantity already working in
    reducing orders is subtracted, so calling the playbook again does not stack duplicate orders.
    """
    if mode not in (PolicyMode.SOFT_DERISK, PolicyMode.HARD_DERISK):
        return []
    spec = cfg.spec
    strategies = spec.strategies

    def order_key(leg: Leg):
        s = strategies.get(leg.strategy)
        return (s.priority if s else 0, -leg.cur, leg.strategy, leg.instrument)

    legs = sorted((lg for lg in book.legs.values() if lg.pos != 0.0), key=order_key)
    excess = book.gross_cur - (regime.tolerance_pct - 1.0) * book.equity / 100.0
    if mode is PolicyMode.SOFT_DERISK and book.gross_cur <= spec.exposure.hard_cap_pct * book.equity / 100.0:
        over = {
            b: book.buckets.get(b, (0.0,))[0] - bs.max_pct * book.equity / 100.0
            for b, bs in spec.exposure.buckets.items()
        }
    else:
        over = {}
    out: list[OrderIntent] = []
    for leg in legs:
        q = book.quote(leg.instrument)
        if q.bid <= 0.0 or q.ask <= 0.0:
            continue
        ins = cfg.instrument(leg.instrument)
        long = leg.pos > 0
        working = leg.open_sell if long else leg.open_buy
        free = abs(leg.pos) - working
        if free <= 0.0:
            continue
        unit = q.mark * leg.mult
        if mode is PolicyMode.HARD_DERISK:
            qty = math.ceil(abs(leg.pos) * spec.policy.hard_chunk_pct / 100.0 / ins.lot) * ins.lot
            px = q.bid if long else q.ask
            tag = "DERISK_HARD"
        else:
            need = max(excess, over.get(leg.bucket, 0.0))
            if need <= 0.0:
                continue
            qty = math.ceil(need / unit / ins.lot) * ins.lot
            k = spec.policy.soft_offset_ticks * ins.tick
            wide = q.ask - q.bid > ins.tick * 1.5
            px = (
                (max(q.ask - k, q.bid + ins.tick) if wide else q.ask)
                if long
                else (min(q.bid + k, q.ask - ins.tick) if wide else q.bid)
            )
            tag = "DERISK_SOFT"
        qty = min(qty, free)
        if qty <= 0.0:
            continue
        excess -= qty * unit
        if leg.bucket in over:
            over[leg.bucket] -= qty * unit
        out.append(
            OrderIntent.new(
                leg.strategy,
                leg.instrument,
                Side.SELL if long else Side.BUY,
                exact_decimal(qty, ins.lot),
                exact_decimal(px, ins.tick),
                ts_event=ts,
                seq=seq0 + len(out),
                tag=tag,
                reduce_only=True,
            )
        )
        if mode is PolicyMode.SOFT_DERISK and excess <= 0.0 and all(v <= 0.0 for v in over.values()):
            break
    return out
