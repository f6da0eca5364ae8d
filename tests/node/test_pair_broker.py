"""The simulator's broker configured to fill like nautilus's sandbox (a pair run's REAL leg vs its PAPER
leg): with zero latency an order is acknowledged and matched against the current book on arrival; with
``market_remainder="cancel"`` a market order's rest beyond the displayed size is cancelled. The defaults
keep the simulator's usual behaviour (a later replay cycle; the rest worked on later quotes)."""

from __future__ import annotations

from decimal import Decimal

from tests.ibsim.kit import broker_with_book, place_req

NS = 1_000_000_000


_req, _broker = place_req, broker_with_book


def _kinds(events) -> list[tuple]:
    return [(e.kind, e.order.status if e.order else None) for e in events if e.kind in ("order", "exec")]


def test_zero_latency_acks_and_matches_on_arrival():
    b, spy = _broker(ack_latency_ms=0.0, fill_latency_ms=0.0)
    events = b.place(_req(1, "BUY", 100, "LMT", 100.02), 1, spy, 11 * NS)  # marketable at the current ask
    assert ("exec", "Filled") in _kinds(events)
    b, spy = _broker()  # defaults (2 ms ack, 5 ms fill): only acknowledged later, on a replay cycle
    assert _kinds(b.place(_req(1, "BUY", 100, "LMT", 100.02), 1, spy, 11 * NS)) == [("order", "PreSubmitted")]


def test_market_remainder_cancel_or_work():
    b, spy = _broker(ack_latency_ms=0.0, fill_latency_ms=0.0, market_remainder="cancel")
    b.place(_req(1, "SELL", 300, "MKT"), 1, spy, 11 * NS)
    (o,) = b.orders()
    assert (o.filled, o.status) == (Decimal(100), "Cancelled")  # the displayed 100, the rest cancelled
    b, spy = _broker(ack_latency_ms=0.0, fill_latency_ms=0.0)
    b.place(_req(1, "SELL", 300, "MKT"), 1, spy, 11 * NS)
    (o,) = b.orders()
    assert (o.filled, o.is_active) == (Decimal(100), True)  # worked on later quotes, as IB does
