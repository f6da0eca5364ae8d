"""The node suite's intent match: one PAPER run's new orders vs the backtest of exactly the quotes that run
received (see :func:`intent_match`). Split from benchmarks/node.py (the runs and metrics)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np


def _align(live: list, sec: np.ndarray, bid: np.ndarray, ask: np.ndarray) -> tuple[int, int] | None:
    """(live offset, store offset) where the live quote stream starts to run in step with the store's.
    The first live quote can be the subscription's snapshot, out of step with the replay that follows."""
    for lo in range(min(5, len(live))):
        first = live[lo]
        cand = np.flatnonzero((sec == first[1]) & np.isclose(bid, first[2]) & np.isclose(ask, first[3]))
        for c in cand:
            n = min(50, len(live) - lo, len(sec) - c)
            if n > 0 and all(sec[c + i] == live[lo + i][1] and np.isclose(bid[c + i], live[lo + i][2])
                             and np.isclose(ask[c + i], live[lo + i][3]) for i in range(n)):
                return lo, int(c)
    return None


def _state_at(inits: dict[str, int], events: list, n: int, events_before_decision: bool) -> list[tuple]:
    """(position, working orders) the strategy held when it decided on quote k, for k in [0, n): orders
    initialised before k; fills and closes recorded at quotes before k, and at k itself when the venue
    handles a quote before the strategy does (the backtest's exchange matches quote k, then the strategy
    sees it; live, the sandbox's fill on quote k reaches the strategy after its decision on k)."""
    delta_pos, delta_work = np.zeros(n + 1), np.zeros(n + 1, dtype=np.int64)
    for k in inits.values():
        if 0 <= k < n:
            delta_work[k + 1] += 1
    shift = 0 if events_before_decision else 1
    for k, kind, coid, qty in events:
        if 0 <= k < n and (kind == "fill" or coid in inits):
            if kind == "fill":
                delta_pos[k + shift] += qty
            else:
                delta_work[k + shift] -= 1
    return list(zip(np.cumsum(delta_pos)[:n].round(6), np.cumsum(delta_work)[:n], strict=True))


def _backtest_timeline(res, ts: np.ndarray, start: int) -> tuple[dict[str, int], list]:
    from nautilus_trader.model.enums import OrderSide

    idx = lambda t: int(np.searchsorted(ts, t, side="right") - 1 - start)  # noqa: E731
    inits, events = {}, []
    for order in res.engine.cache.orders():
        coid = order.client_order_id.value
        inits[coid] = idx(order.ts_init)
        for e in order.events:
            name = type(e).__name__
            if name == "OrderFilled":
                events.append((idx(e.ts_event), "fill", coid,
                               float(e.last_qty) * (1 if e.order_side == OrderSide.BUY else -1)))
        if order.is_closed:
            events.append((idx(order.ts_last), "close", coid, 0.0))
    return inits, events


def intent_match(probe: dict, store_path: Path, entry: dict) -> dict:
    """Match one PAPER run's new orders against the backtest of the quotes that run received.

    The backtest replays the stored session from the run's first in-step quote to its last (located in the
    store by exchange second + bid/ask: IB tick-by-tick carries whole seconds; ``quotes_in_step_with_store``
    says how many of the run's quotes equal the store's, in order). An intent is (position in this common
    quote stream of the quote the decision used, side, quantity, limit price); new limit orders only (not
    the stop's reduce-only closes). ``matched`` = intents present in both runs. An intent present in one run
    only is **latency-excluded** when, at its quote, the two runs' strategy state differed (position or
    number of working orders: a fill, acknowledgment or cancel landed at another quote live than in the
    zero-latency backtest, so the strategy legitimately decided differently); otherwise it is a
    **mismatch**. The state is what the strategy saw at its decision: in the backtest the venue matches a
    quote before the strategy handles it, live the sandbox's fill on that quote arrives after the decision.
    ``pct = matched / (matched + mismatches)``."""
    from workbench.engine import backtest
    from workbench.store import Store

    iid = entry["config"]["instrument_id"]
    live = probe["quotes"]
    with Store.open(str(store_path), read_only=True) as store:
        q = store.read_quotes(iid, as_="pandas")
        ts = q["ts_event"].to_numpy(np.int64)
        sec, bid, ask = ts // 1_000_000_000, q["bid"].to_numpy(float), q["ask"].to_numpy(float)
        found = _align(live, sec, bid, ask)
        if found is None:
            return {"error": "the live quote stream was not found in the store"}
        lo, start = found
        n = min(len(live) - lo, len(q) - start)
        in_step = int(sum(sec[start + i] == live[lo + i][1] and np.isclose(bid[start + i], live[lo + i][2])
                          and np.isclose(ask[start + i], live[lo + i][3]) for i in range(n)))
        res = backtest(entry, {"instrument_ids": [iid], "start": int(ts[start]), "end": int(ts[start + n - 1]) + 1},
                       store=store)
    b_inits, b_events = _backtest_timeline(res, ts, start)
    p_inits = {c: o["q_index"] - lo for c, o in probe["orders"].items()}
    p_events = [(k - lo, kind, c, x) for k, kind, c, x in probe["events"]]
    b_state, p_state = _state_at(b_inits, b_events, n, True), _state_at(p_inits, p_events, n, False)
    bt = Counter()
    for d in res.decisions:
        i = d.intent
        if i.action.value == "NEW" and not i.reduce_only and d.approved and i.price is not None:
            k = int(np.searchsorted(ts, i.ts_event, side="right") - 1 - start)
            if 0 <= k < n:
                bt[(k, i.side.value, float(d.approved_qty), float(i.price))] += 1
    pp = Counter((o["q_index"] - lo, o["side"], o["qty"], o["price"]) for o in probe["orders"].values()
                 if not o["reduce_only"] and o["price"] is not None and 0 <= o["q_index"] - lo < n)
    matched = sum((bt & pp).values())
    only = list((bt - pp).elements()) + list((pp - bt).elements())
    excluded = [x for x in only if b_state[x[0]] != p_state[x[0]]]
    mismatched = [x for x in only if b_state[x[0]] == p_state[x[0]]]
    return {"backtest_intents": sum(bt.values()), "paper_intents": sum(pp.values()), "matched": matched,
            "latency_excluded": len(excluded), "mismatches": len(mismatched), "mismatch_examples": mismatched[:3],
            "quotes_compared": n, "quotes_in_step_with_store": in_step}
