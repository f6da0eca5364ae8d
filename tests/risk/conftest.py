"""Shared builders for the risk tests (fixture ``rk``): a small config and a gate with a quoted book.

pytest 9 imports test modules in importlib mode, so helpers travel as a fixture, not an import."""

from __future__ import annotations

from types import SimpleNamespace

import pandas as pd
import pytest

from workbench.risk.config import config_from_dict
from workbench.risk.gate import RiskGate
from workbench.risk.types import OrderIntent

SPY = "SPY.XNAS"
QQQ = "QQQ.XNAS"
# 2024-03-15 (a regular XNYS session) at 11:00 New York: regime MID.
T0 = int(pd.Timestamp("2024-03-15 11:00", tz="America/New_York").tz_convert("UTC").value)
MS = 1_000_000


def base_config(**over) -> dict:
    cfg = {
        "equity": 1_000_000,
        "defaults": {
            "max_order_qty": 1000,
            "max_order_notional": 50_000,
            "max_instrument_notional": 200_000,
            "max_position_qty": 1500,
            "price_band_bps": 50,
        },
        "exposure": {
            "hard_cap_pct": 130,
            "buckets": {
                "LT": {"target_pct": 80, "max_pct": 100},
                "MM_PURE": {"target_pct": 20, "max_pct": 30},
            },
        },
        "strategies": {
            "LT-001": {"bucket": "LT", "priority": 10, "critical": True, "guaranteed_pct": 30},
            "MM-002": {"bucket": "MM_PURE", "priority": 1},
        },
        "instruments": {SPY: {"tick": 0.01, "lot": 1}, QQQ: {"tick": 0.01, "lot": 1}},
    }
    for k, v in over.items():
        cfg[k] = v
    return cfg


def make_gate(cfg: dict | None = None, **kw) -> RiskGate:
    gate = RiskGate(config_from_dict(cfg or base_config()), **kw)
    gate.on_quote(SPY, T0, 99.99, 100.01)
    gate.on_quote(QQQ, T0, 199.98, 200.02)
    return gate


def intent(strategy="MM-002", instrument=SPY, side="BUY", qty=10, price="100.00", ts=T0, seq=1, **kw):
    return OrderIntent.new(strategy, instrument, side, qty, price, ts_event=ts, seq=seq, **kw)


@pytest.fixture
def rk() -> SimpleNamespace:
    return SimpleNamespace(
        SPY=SPY, QQQ=QQQ, T0=T0, MS=MS, base_config=base_config, make_gate=make_gate, intent=intent
    )
