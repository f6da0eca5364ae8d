"""Pure parts of the simulator: framing, IB history rules, pacing, commissions, state file, parsers."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from ibapi.client import EClient
from ibapi.contract import Contract
from ibapi.order import Order
from ibapi.wrapper import EWrapper

from workbench.ibsim import requests as rq
from workbench.ibsim.account import AccountConfig, AccountState, StateFile, apply_fill, commission
from workbench.ibsim.broker import Broker, Reject
from workbench.ibsim.contracts import default_catalog
from workbench.ibsim.histrules import HistoryRequestError, aggregate, parse_ib_datetime, validate
from workbench.ibsim.pacing import HistoricalPacer
from workbench.ibsim.wire import FrameReader, ProtocolError, frame, parse_handshake, split_fields

NS = 1_000_000_000


def test_handshake_negotiates_min_of_client_max_and_ceiling():
    assert parse_handshake(b"v157..178").negotiate(200) == 178
    assert parse_handshake(b"v100..223 +PACEAPI").negotiate(200) == 200
    assert parse_handshake(b"v100..223 +PACEAPI").options == "+PACEAPI"
    with pytest.raises(ProtocolError, match="needs server version >= 201"):
        parse_handshake(b"v201..223").negotiate(200)
    with pytest.raises(ProtocolError, match="must start with 'v'"):
        parse_handshake(b"157..178")


def test_frame_reader_reassembles_split_frames():
    data = frame([1, 2, "abc"]) + frame([9, 1, 42])
    r = FrameReader()
    out = []
    for i in range(0, len(data), 3):  # worst case: three bytes per TCP segment
        out += r.feed(data[i:i + 3])
    assert [split_fields(b) for b in out] == [["1", "2", "abc"], ["9", "1", "42"]]


def test_history_rules_follow_ib_step_table():
    assert validate("1 min", "1 D", "TRADES").bar_seconds == 60
    assert validate("5 mins", "1 W", "MIDPOINT").duration_seconds == 7 * 86400
    for bar, dur, code in [("1 min", "2 D", 162), ("7 mins", "1 D", 321), ("1 min", "1 Q", 321),
                           ("1 secs", "3600 S", 162)]:
        with pytest.raises(HistoryRequestError) as exc:
            validate(bar, dur, "TRADES")
        assert exc.value.code == code


def test_ib_datetime_forms():
    utc = 1381152600 * NS  # 2013-10-07 13:30:00 UTC
    assert parse_ib_datetime("20131007 09:30:00 US/Eastern") == utc
    assert parse_ib_datetime("20131007 13:30:00 UTC") == utc
    assert parse_ib_datetime("20131007-13:30:00") == utc
    assert parse_ib_datetime("20131007 09:30:00", "America/New_York") == utc
    assert parse_ib_datetime("", now_ns=utc) == utc
    with pytest.raises(HistoryRequestError, match="cannot parse"):
        parse_ib_datetime("07/10/2013")


def test_aggregate_five_minute_bars_volume_weighted():
    import numpy as np

    ts = 1381152600 * NS + np.arange(10) * 60 * NS
    o = np.arange(10, dtype=float)
    agg = aggregate(ts, o, o + 1, o - 1, o + 0.5, np.full(10, 100.0), 300)
    assert list(agg["open"]) == [0.0, 5.0] and list(agg["close"]) == [4.5, 9.5]
    assert list(agg["high"]) == [5.0, 10.0] and list(agg["volume"]) == [500.0, 500.0]
    assert list(agg["count"]) == [5, 5]


def test_pacer_counts_only_accepted_requests():
    p = HistoricalPacer()
    t = 0
    assert p.check(t, ("a",), ("SPY",)) is None
    assert "identical" in p.check(t + 14 * NS, ("a",), ("SPY",))
    assert p.check(t + 15 * NS, ("a",), ("SPY",)) is None
    assert p.violations == 1


def test_commission_schedule():
    cfg = AccountConfig()
    assert commission(cfg, "STK", Decimal(100), Decimal(16800)) == Decimal("1.00")  # minimum
    assert commission(cfg, "STK", Decimal(1000), Decimal(168000)) == Decimal("5.000")
    assert commission(cfg, "STK", Decimal(1000), Decimal(100)) == Decimal("1.00")  # 1% cap, not below min
    assert commission(cfg, "OPT", Decimal(3), Decimal(405)) == Decimal("1.95")
    assert commission(cfg, "FUT", Decimal(1), Decimal(83750)) == Decimal("1.00")


def test_fills_update_cash_avg_cost_and_realized_pnl():
    st = AccountState(cash=Decimal(10000))
    apply_fill(st, 1, Decimal(10), Decimal("100"), 1, Decimal(1), False)
    apply_fill(st, 1, Decimal(10), Decimal("110"), 1, Decimal(1), False)
    assert st.positions[1].avg_cost == Decimal(105)
    realized = apply_fill(st, 1, Decimal(-15), Decimal("120"), 1, Decimal(1), False)
    assert realized == Decimal(225) and st.positions[1].qty == 5
    assert st.cash == Decimal(10000) - 1000 - 1100 + 1800 - 3
    apply_fill(st, 2, Decimal(-2), Decimal("1.35"), 100, Decimal("1.30"), False)  # short options, x100
    assert st.positions[2].avg_cost == Decimal(135) and st.positions[2].qty == -2


def test_state_file_round_trip_and_clear_errors(tmp_path):
    path = tmp_path / "s.json"
    broker = Broker(default_catalog(), state_file=StateFile(path))
    broker.state.cash = Decimal("12.34")
    broker.save()
    again = StateFile(path).load()
    assert again.cash == Decimal("12.34") and again.to_json() == broker.state.to_json()
    path.write_text(json.dumps({"version": 1, "cash": "x"}))
    with pytest.raises(ValueError, match=r"s.json: corrupt simulator state"):
        StateFile(path).load()
    assert not list(tmp_path.glob(".ibsim-*"))  # no temp files left behind


class _Capture:
    """A connection stand-in that keeps what the REAL ibapi EClient encoder writes."""

    def __init__(self) -> None:
        self.sent: list[bytes] = []

    def sendMsg(self, msg: bytes) -> None:  # noqa: N802 (ibapi's name)
        self.sent.append(msg)

    def isConnected(self) -> bool:  # noqa: N802
        return True


@pytest.mark.parametrize("version", [157, 176, 178, 187, 192, 200])
def test_place_and_cancel_order_parsed_from_real_ibapi_encoding(version):
    client = EClient(EWrapper())
    client.conn = _Capture()
    client.serverVersion_ = version
    client.connState = EClient.CONNECTED
    c = Contract()
    c.symbol, c.secType, c.exchange, c.currency, c.primaryExchange = "SPY", "STK", "SMART", "USD", "ARCA"
    o = Order()
    o.action, o.totalQuantity, o.orderType, o.lmtPrice, o.tif, o.orderRef = "SELL", Decimal(300), "LMT", 168.25, \
        "GTC", "ref-7"
    o.whatIf = True
    client.placeOrder(42, c, o)
    from ibapi.order_cancel import OrderCancel

    client.cancelOrder(42, OrderCancel())
    bodies = [b for m in client.conn.sent for b in FrameReader().feed(m)]
    place, cancel = (split_fields(b) for b in bodies)
    req = rq.parse_place_order(rq.Cursor(place[1:], 3), version)
    assert (req.order_id, req.action, req.total_qty, req.order_type, req.lmt_price, req.aux_price) == (
        42, "SELL", Decimal(300), "LMT", 168.25, None)
    assert (req.tif, req.order_ref, req.what_if, req.contract.primary_exchange) == ("GTC", "ref-7", True, "ARCA")
    assert rq.parse_cancel_order(rq.Cursor(cancel[1:], 4), version) == 42


def test_broker_rejects_bad_orders_with_ib_codes():
    cat = default_catalog()
    spy = next(c for c in cat if c.symbol == "SPY" and c.sec_type == "STK")
    b = Broker(cat)

    def req(**kw):
        base = dict(order_id=1, contract=None, action="BUY", total_qty=Decimal(100), order_type="LMT",
                    lmt_price=168.25, aux_price=None, tif="DAY", oca_group="", account="", order_ref="",
                    transmit=True, parent_id=0, outside_rth=False, what_if=False)
        base.update(kw)
        return rq.PlaceOrderReq(**base)

    for kw, code in [(dict(order_type="TRAIL"), 321), (dict(lmt_price=None), 321), (dict(lmt_price=168.253), 110),
                     (dict(account="U999"), 321), (dict(total_qty=Decimal(10**7)), 201)]:
        with pytest.raises(Reject) as exc:
            b.place(req(**kw), 1, spy, 0)
        assert exc.value.code == code, kw
    with pytest.raises(Reject) as exc:
        b.cancel(1, 99, 0)
    assert exc.value.code == 10147


def test_bid_ask_fast_encoder_matches_the_generic_frame_byte_for_byte():
    """wire.bid_ask_frame (the replay's per-quote encoder) against frame(msg_core.tick_by_tick_bid_ask(...)),
    with sizes as h_market._size gives them, over seeded random and edge values."""
    import numpy as np

    from workbench.ibsim import msg_core
    from workbench.ibsim.h_market import _size
    from workbench.ibsim.wire import UNSET_DOUBLE, bid_ask_frame

    rng = np.random.default_rng(7)
    prices = [100.0, 0.0, 0.01, 168.27000000000001, 1e15, 1e16, 123456.789, -1.5, UNSET_DOUBLE, float("inf")]
    prices += [round(float(x), int(d)) for x, d in zip(rng.uniform(0, 5000, 300), rng.integers(0, 6, 300), strict=True)]
    sizes = [0.0, 1.0, 100.0, 0.5, 1.25, 12345678.0, 3e9]
    sizes += [float(x) for x in rng.integers(1, 100, 100) * 100] + [float(x) for x in rng.uniform(0, 10, 50)]
    for k in range(600):
        bid, ask = prices[k % len(prices)], prices[(7 * k + 3) % len(prices)]
        bsz, asz = sizes[k % len(sizes)], sizes[(5 * k + 1) % len(sizes)]
        req, sec = int(rng.integers(1, 10_000)), int(rng.integers(1_000_000_000, 2_000_000_000))
        expected = frame(msg_core.tick_by_tick_bid_ask(200, req, sec, bid, ask, _size(bsz), _size(asz)))
        assert bid_ask_frame(req, sec, bid, ask, bsz, asz) == expected, (bid, ask, bsz, asz)
