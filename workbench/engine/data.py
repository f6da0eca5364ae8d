"""Store -> nautilus data objects, fast.

DuckDB hands columns over as Arrow; numpy views of them go straight into nautilus's Cython
``from_raw_arrays_to_list`` constructors. No pandas in the hot path: nautilus's own
``QuoteTickDataWrangler`` spends most of its time in pandas preprocessing (and raises "buffer
source array is read-only" under pandas 3 on all-float frames).
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pyarrow as pa
from nautilus_trader.model.data import Bar, BarType, QuoteTick, TradeTick
from nautilus_trader.model.enums import AggressorSide
from nautilus_trader.model.instruments.base import Instrument as NautilusInstrument

from workbench.engine.fastticks import quotes_fast

_log = logging.getLogger(__name__)

BAR_SPEC = {
    "1s": ("1-SECOND", 1_000_000_000), "5s": ("5-SECOND", 5_000_000_000),
    "1min": ("1-MINUTE", 60_000_000_000), "5min": ("5-MINUTE", 300_000_000_000),
    "15min": ("15-MINUTE", 900_000_000_000), "30min": ("30-MINUTE", 1_800_000_000_000),
    "1h": ("1-HOUR", 3_600_000_000_000), "1d": ("1-DAY", 86_400_000_000_000),
}


def _col(tbl: pa.Table, name: str, dtype: Any) -> np.ndarray:
    # Writable: nautilus's Cython signatures take non-const memoryviews (Arrow buffers are read-only).
    return np.require(tbl.column(name).to_numpy(), dtype, ["C", "W"])


def quotes_from_arrow(tbl: pa.Table, instrument: NautilusInstrument) -> list[QuoteTick]:
    """Arrow (ts_event, bid, ask, bid_size, ask_size) -> QuoteTick list.

    Rows with a missing or non-finite side cannot become a QuoteTick: they are dropped, and the
    count is logged as a warning on ``workbench.engine.data`` (never silently)."""
    if tbl.num_rows == 0:
        return []
    bid, ask = _col(tbl, "bid", np.float64), _col(tbl, "ask", np.float64)
    bsz, asz = _col(tbl, "bid_size", np.float64), _col(tbl, "ask_size", np.float64)
    ts = _col(tbl, "ts_event", np.uint64)
    ok = np.isfinite(bid) & np.isfinite(ask) & np.isfinite(bsz) & np.isfinite(asz)
    if not ok.all():
        _log.warning("%s: dropped %d of %d quote rows with a missing or non-finite bid/ask/size",
                     instrument.id, int((~ok).sum()), len(ok))
        bid, ask, bsz, asz, ts = bid[ok], ask[ok], bsz[ok], asz[ok], ts[ok]
    return quotes_fast(instrument.id, instrument.price_precision, instrument.size_precision, bid, ask, bsz, asz, ts, ts)


def trades_from_arrow(tbl: pa.Table, instrument: NautilusInstrument) -> list[TradeTick]:
    """Arrow (ts_event, price, size) -> TradeTick list; trade ids are the row position (deterministic)."""
    n = tbl.num_rows
    if n == 0:
        return []
    ts = _col(tbl, "ts_event", np.uint64)
    sides = np.full(n, AggressorSide.NO_AGGRESSOR.value, dtype=np.uint8)
    return TradeTick.from_raw_arrays_to_list(
        instrument.id, instrument.price_precision, instrument.size_precision,
        _col(tbl, "price", np.float64), _col(tbl, "size", np.float64), sides,
        [str(i) for i in range(n)], ts, ts)


def bar_type_for(instrument_id: str, bar_size: str, price_type: str = "TRADE") -> BarType:
    spec, _ = BAR_SPEC[bar_size]
    price = {"TRADE": "LAST", "BID": "BID", "ASK": "ASK", "MID": "MID"}[price_type]
    return BarType.from_str(f"{instrument_id}-{spec}-{price}-EXTERNAL")


def bars_from_arrow(tbl: pa.Table, instrument: NautilusInstrument, bar_size: str,
                    price_type: str = "TRADE") -> list[Bar]:
    """Arrow bars (ts_event = bar OPEN) -> nautilus Bars stamped at bar CLOSE (nautilus's convention,
    so a strategy never sees a bar before it has finished)."""
    if tbl.num_rows == 0:
        return []
    _, step = BAR_SPEC[bar_size]
    ts = _col(tbl, "ts_event", np.uint64) + np.uint64(step)
    return Bar.from_raw_arrays_to_list(
        bar_type_for(str(instrument.id), bar_size, price_type), instrument.price_precision,
        instrument.size_precision, _col(tbl, "open", np.float64), _col(tbl, "high", np.float64),
        _col(tbl, "low", np.float64), _col(tbl, "close", np.float64), _col(tbl, "volume", np.float64), ts, ts)


def load_quotes(store: Any, instrument: NautilusInstrument, start: Any = None, end: Any = None) -> list[QuoteTick]:
    return quotes_from_arrow(store.read_quotes(str(instrument.id), start, end, as_="arrow"), instrument)


