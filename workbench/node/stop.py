"""How a node run stops as configured (docs/node.md, "Stop ends as configured"): the market exit with a
bounded wait (:func:`flatten`) and, in PAPER, orders the sandbox no longer knows resolved CANCELED
(:func:`resolve_unknown_at_venue`)."""

from __future__ import annotations

import asyncio
import time

from nautilus_trader.live.node import TradingNode
from nautilus_trader.model.identifiers import InstrumentId


def resolve_unknown_at_venue(node: TradingNode, counts, log=None) -> None:
    """PAPER: an order the sandbox venue answers "not found" to a cancel is no longer working there (seen
    at stop: a reduce-only market close partly filled against the top of book, its rest dropped by the
    matching engine, the order PARTIALLY_FILLED forever and the exit re-cancelling it without end).
    Resolved as nautilus's own reconciliation resolves an open order missing at the venue
    (``LiveExecutionEngine._resolve_order_not_found_at_venue``): CANCELED, its fills kept. The sandbox
    is in-process, so its answer is authoritative; against IB nautilus's venue queries do this."""
    from nautilus_trader.live.reconciliation import create_order_canceled_event
    from nautilus_trader.model.enums import OrderStatus

    done: set = set()

    def resolve(coid) -> None:
        order = node.cache.order(coid)
        if order is None or order.status not in (OrderStatus.ACCEPTED, OrderStatus.PARTIALLY_FILLED):
            return
        node.kernel.exec_engine.process(create_order_canceled_event(order, node.kernel.clock.timestamp_ns()))
        counts["orders_resolved_canceled"] += 1
        if log is not None:
            log.write("reconciled", client_order_id=coid.value, status="CANCELED",
                      filled_qty=str(order.filled_qty), reason="cancel rejected: not found at the venue")

    def on_event(ev) -> None:
        if type(ev).__name__ == "OrderCancelRejected" and "not found" in str(ev.reason).lower() \
                and ev.client_order_id not in done:
            done.add(ev.client_order_id)
            node.kernel.loop.call_soon(resolve, ev.client_order_id)  # not inside the bus's dispatch

    node.kernel.msgbus.subscribe(topic="events.order.*", handler=on_event)


POLL_S = 0.02  # wall seconds between polls of the node's state


async def wait_until(pred, timeout_s: float, settled: int = 1) -> bool:
    """``pred()`` true ``settled`` polls running, within ``timeout_s`` wall seconds."""
    deadline, run = time.monotonic() + timeout_s, 0
    while time.monotonic() < deadline:
        run = run + 1 if pred() else 0
        if run >= settled:
            return True
        await asyncio.sleep(POLL_S)
    return False


async def flatten(node: TradingNode, ids: list[InstrumentId], timeout_s: float, errors: list[str]) -> None:
    """Stop as configured, before the node stops: each strategy runs nautilus's market exit (working
    orders cancelled, positions closed reduce-only, re-checked every ``market_exit_interval_ms``) and, while
    it exits, any new order that is not reduce-only is denied — a strategy still receiving quotes cannot
    re-open the position behind the close (that was the residual seen at stop). Bounded wait; whatever is
    left is logged in ``errors`` and stays in the summary's residual positions; never silent."""
    strategies = node.trader.strategies()
    seen = {s.id: len(getattr(s, "decisions", ())) for s in strategies}
    for strategy in strategies:
        # nautilus denies new orders only while the exit runs; once flat the strategy (still fed quotes
        # until the node stops) re-opened (seen: REAL ended short 100). A gated strategy closes only.
        if hasattr(strategy, "closing_only"):
            strategy.closing_only = True
        strategy.market_exit()
    done = await wait_until(lambda: not any(s.is_exiting() for s in strategies)
                       and all(node.portfolio.is_flat(i) for i in ids), timeout_s)
    refused = [f"{d.intent.action} {d.intent.side} {d.intent.qty} {d.intent.instrument_id}: "
               f"{','.join(str(r) for r in d.reasons)} {d.raw_values or ''}".rstrip()
               for st in strategies for d in list(getattr(st, "decisions", ()))[seen[st.id]:] if not d.approved]
    # nautilus's exit re-sends a close while the first is still INITIALIZED (it checks open and in-flight
    # orders only); the gate refuses that duplicate because it books the first at approval. Only when
    # the stop did not end flat is a refusal part of the problem, and then its reason is named.
    if not done:
        errors.extend(f"stop: refused by the risk gate: {r}" for r in refused)
        working = len(node.cache.orders_open()) + len(node.cache.orders_inflight())
        errors.append(f"stop: position not flat after {timeout_s}s ({working} order(s) still working)")
