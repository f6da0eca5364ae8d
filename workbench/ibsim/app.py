"""Wiring: build a gateway over the workbench store (or the synthetic demo market) and serve it."""

from __future__ import annotations

import asyncio
import logging
import math
from datetime import date, datetime

import pandas as pd

from .contracts import ContractCatalog, default_catalog
from .gateway import Gateway, GatewayConfig
from .market import MemorySource, StoreSource, synthetic_session

log = logging.getLogger("workbench.ibsim")
NS = 1_000_000_000


def _clean(v):
    """Store rows come back from pandas with NaN/NaT for absent fields; the catalog wants None."""
    if v is None or v is pd.NaT:
        return None
    if isinstance(v, float) and math.isnan(v):
        return None
    if isinstance(v, pd.Timestamp):
        return v.date()
    if isinstance(v, datetime):
        return v.date()
    return v


def catalog_from_store(store) -> ContractCatalog:
    """Every stored instrument as an IB contract (options linked to their stored underlying)."""
    df = store.instruments()
    rows = [{k: _clean(v) for k, v in r.items()} for r in df.to_dict("records")]
    return ContractCatalog.from_instruments(rows)


def gateway_from_store(store, config: GatewayConfig) -> Gateway:
    cat = catalog_from_store(store)
    if not len(cat):
        raise ValueError("the store has no instruments to serve; ingest data first (`wb ingest ...`) or use "
                         "--synthetic")
    return Gateway(config, StoreSource(store), cat)


def synthetic_gateway(config: GatewayConfig, seed: int = 0, days: int = 1) -> Gateway:
    """The default demo catalog with seeded random-walk quotes around the start time."""
    cat = default_catalog()
    src = MemorySource()
    start = config.start_ns() - 3600 * NS
    prices = {"SPY.ARCX": 168.0, "AAPL.XNAS": 480.0, "SPX.XCBO": 1680.0, "ESZ13.XCME": 1675.0}
    for i, c in enumerate(cat):
        if c.sec_type == "OPT":
            intrinsic = max(0.0, (168.0 - c.strike) if c.right == "C" else (c.strike - 168.0))
            price = round(intrinsic + 1.5, 2)
        else:
            price = prices.get(c.instrument_id, 100.0)
        synthetic_session(src, c.instrument_id, start, days * 86400, seed=seed + i, price=price, tick=c.min_tick)
    return Gateway(config, src, cat)


async def serve(gw: Gateway, stop: asyncio.Event | None = None) -> None:
    """Start ``gw`` and run until ``stop`` is set (or the task is cancelled)."""
    await gw.start()
    try:
        await (stop or asyncio.Event()).wait()
    finally:
        await gw.stop()


def start_of(value: str | None, default: str | date | None = None) -> str | int:
    """Parse ``--replay-from`` (any pandas timestamp; naive means UTC) to a config ``start``."""
    if value is None:
        return str(default) if default is not None else "2013-10-07 13:30:00"
    ts = pd.Timestamp(value)
    return int((ts.tz_localize("UTC") if ts.tzinfo is None else ts).value)
