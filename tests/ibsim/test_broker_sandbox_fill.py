"""The simulator's broker switches that make it fill as nautilus's sandbox does (docs/ibsim.md, "Filling
like the sandbox"): ``market_remainder`` (work / cancel / rest) for a market order larger than the
displayed size, ``consume_displayed`` (one shared displayed size per quote, or the full size for every
order, as nautilus with liquidity_consumption off) and ``passive_fill`` (a resting limit order reached by a
later quote: at the touch up to its size, or at its limit in full). Real broker objects on the simulated
clock."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tests.ibsim.kit import broker_with_book, place_req
from workbench.ibsim.broker import BrokerConfig
from workbench.node.config import NodeConfigError, load_node_config, node_config_from_dict

NS = 1_000_000_000


_req = place_req


def _broker(**cfg):
    return broker_with_book(ack_latency_ms=0.0, fill_latency_ms=0.0, **cfg)


def _after_first_fill(mode: str):
    """A 300-share market sell against 100 displayed, then the same quote retried, then a new quote."""
    b, spy = _broker(market_remainder=mode)
    first = b.place(_req(1, "SELL", 300), 1, spy, 11 * NS)
    later = b.on_time(12 * NS) + b.on_quote(spy.con_id, 13 * NS, 99.99, 100.01, 100.0, 100.0)
    (o,) = b.orders()
    return b, spy, o, first, later


def test_market_remainder_work_fills_on_later_quotes():
    _, _, o, _, later = _after_first_fill("work")
    assert (o.filled, o.status) == (Decimal(200), "Submitted")  # 100 now, 100 on the next quote, as IB
    assert [e.execution.price for e in later if e.kind == "exec"] == [99.99]


def test_market_remainder_cancel_cancels_with_the_events():
    _, _, o, first, later = _after_first_fill("cancel")
    assert (o.filled, o.status) == (Decimal(100), "Cancelled")
    assert any(e.kind == "error" and e.code == 202 for e in first)  # what a client hears of a cancel
    assert later == []


def test_market_remainder_rest_stays_open_silently_until_cancelled():
    b, spy, o, first, later = _after_first_fill("rest")
    assert (o.filled, o.status, o.is_active) == (Decimal(100), "Submitted", True)
    assert not any(e.kind == "error" for e in first)
    assert later == []  # never matched again, no event: as the sandbox leaves its market order's rest
    b.on_quote(spy.con_id, 14 * NS, 100.00, 100.02, 5000.0, 5000.0)
    assert o.filled == Decimal(100)
    b.cancel(1, 1, 15 * NS)  # the strategy's cancel ends it as any working order
    assert o.status == "Cancelled"
    # a limit order is unaffected by the switch: its rest works on later quotes
    b.place(_req(2, "BUY", 300, "LMT", 100.02), 1, spy, 16 * NS)
    b.on_quote(spy.con_id, 17 * NS, 100.00, 100.02, 5000.0, 5000.0)
    assert b.find_order(1, 2).filled == Decimal(300)


@pytest.mark.parametrize(("consume", "filled"), [(True, [100, 0]), (False, [100, 100])])
def test_two_orders_on_one_quote(consume, filled):
    b, spy = _broker(consume_displayed=consume, market_remainder="rest")
    b.place(_req(1, "SELL", 100), 1, spy, 11 * NS)
    b.place(_req(2, "SELL", 100), 1, spy, 11 * NS)
    b.on_time(12 * NS)
    assert [int(o.filled) for o in b.orders()] == filled


def test_full_displayed_size_once_per_order_and_quote():
    # consume_displayed False: an order's own takes still count, so a working rest does not fill again on
    # the same quote (each retry would otherwise print the displayed 100 anew), only on the next one
    b, spy = _broker(consume_displayed=False, market_remainder="work")
    b.place(_req(1, "BUY", 300, "LMT", 100.02), 1, spy, 11 * NS)
    b.on_time(12 * NS)
    assert b.find_order(1, 1).filled == Decimal(100)
    b.on_quote(spy.con_id, 13 * NS, 100.00, 100.02, 100.0, 100.0)
    assert b.find_order(1, 1).filled == Decimal(200)


@pytest.mark.parametrize(("mode", "fills"), [("touch", [(50, 99.98)]), ("limit", [(300, 100.00)])])
def test_resting_limit_reached_by_a_later_quote(mode, fills):
    b, spy = _broker(passive_fill=mode)
    taker = b.place(_req(1, "BUY", 100, "LMT", 100.05), 1, spy, 11 * NS)  # marketable on arrival: a taker
    assert [(int(e.execution.shares), e.execution.price) for e in taker if e.kind == "exec"] == [(100, 100.02)]
    b.place(_req(2, "BUY", 300, "LMT", 100.00), 1, spy, 12 * NS)  # below the ask: rests
    events = b.on_quote(spy.con_id, 13 * NS, 99.96, 99.98, 50.0, 50.0)  # the market moves through it
    # touch: the later quote's ask, up to its size (as IB); limit: nautilus's L1 maker fill, at the limit
    # price and in full (the market moved through the price, so there was enough liquidity there)
    assert [(int(e.execution.shares), e.execution.price) for e in events if e.kind == "exec"] == fills


def test_unknown_values_fail_closed():
    with pytest.raises(ValueError, match="market_remainder must be one of"):
        BrokerConfig(market_remainder="drop")
    with pytest.raises(ValueError, match="consume_displayed"):
        BrokerConfig(consume_displayed="no")
    with pytest.raises(ValueError, match="passive_fill must be one of"):
        BrokerConfig(passive_fill="mid")
    entry = {"strategy_path": "s:S", "config_path": "s:C", "config": {}}
    with pytest.raises(NodeConfigError, match="sim_market_remainder must be one of"):
        node_config_from_dict({"mode": "pair", "strategies": [entry], "sim_market_remainder": "drop"})
    with pytest.raises(NodeConfigError, match="sim_consume_displayed"):
        node_config_from_dict({"mode": "pair", "strategies": [entry], "sim_consume_displayed": "no"})
    with pytest.raises(NodeConfigError, match="sim_passive_fill must be one of"):
        node_config_from_dict({"mode": "pair", "strategies": [entry], "sim_passive_fill": "mid"})
    cfg = node_config_from_dict({"mode": "real", "strategies": [entry]})  # REAL-like runs keep IB's behaviour
    assert (cfg.sim_market_remainder, cfg.sim_consume_displayed, cfg.sim_passive_fill) == ("work", True, "touch")


def test_the_pair_file_fills_like_the_sandbox():
    cfg = load_node_config("config/node_pair.yaml")
    assert (cfg.sim_ack_latency_ms, cfg.sim_fill_latency_ms) == (0.0, 0.0)
    assert (cfg.sim_market_remainder, cfg.sim_consume_displayed, cfg.sim_passive_fill) == ("rest", False, "limit")
