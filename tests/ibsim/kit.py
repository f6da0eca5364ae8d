"""Shared test helpers for the simulator's broker: an IB order request with the defaults tests need, and a
broker holding one SPY quote (100.00 x 100.02, 100 shares displayed each side)."""

from __future__ import annotations

from decimal import Decimal

from workbench.ibsim import requests as rq
from workbench.ibsim.broker import Broker, BrokerConfig
from workbench.ibsim.contracts import default_catalog

NS = 1_000_000_000


def place_req(order_id: int, action: str, qty: int, order_type: str = "MKT",
              lmt: float | None = None) -> rq.PlaceOrderReq:
    return rq.PlaceOrderReq(order_id=order_id, contract=None, action=action, total_qty=Decimal(qty),
                            order_type=order_type, lmt_price=lmt, aux_price=None, tif="DAY", oca_group="",
                            account="", order_ref="", transmit=True, parent_id=0, outside_rth=False, what_if=False)


def broker_with_book(**cfg):
    """(broker, SPY contract) after one quote at 10 s: 100.00 bid x 100.02 ask, 100 shares each side."""
    cat = default_catalog()
    spy = next(c for c in cat if c.symbol == "SPY" and c.sec_type == "STK")
    b = Broker(cat, BrokerConfig(**cfg))
    b.on_quote(spy.con_id, 10 * NS, 100.00, 100.02, 100.0, 100.0)
    return b, spy
