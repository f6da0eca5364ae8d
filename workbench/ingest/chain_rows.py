"""Rows of an option-chain file to stored chain snapshots: the steps every chain reader shares (the Cboe
CSV and JSON readers of :mod:`workbench.ingest.chains` and :mod:`workbench.ingest.cboe_json`, and the
``kind: chain`` CSV mappings of :mod:`workbench.ingest.chain_csv`): OCC symbols to option instruments
cross-checked against each row's terms, numeric columns checked with row and field, one snapshot written."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd

from workbench.ingest.errors import IngestError
from workbench.ingest.sink import ensure_instruments
from workbench.store import Instrument

__all__ = ["CHAIN_COLUMNS", "INDEX_ROOTS", "OCC_SYMBOL", "check_numbers", "option_contracts", "underlying_of",
           "write_snapshot"]

INDEX_ROOTS = {"SPX": "SPX", "SPXW": "SPX", "SPXPM": "SPX", "XSP": "XSP", "NDX": "NDX", "NDXP": "NDX",
               "RUT": "RUT", "RUTW": "RUT", "VIX": "VIX", "VIXW": "VIX", "DJX": "DJX", "OEX": "OEX", "XEO": "OEX"}
CHAIN_COLUMNS = ["instrument_id", "expiry", "strike", "right", "bid", "ask", "bid_size", "ask_size", "last",
                 "volume", "open_interest", "iv", "delta", "gamma", "vega", "theta", "rho", "forward"]
OCC_SYMBOL = re.compile(r"^([A-Z]+\d?)\s*(\d{6})([CP])(\d{8})$")


def underlying_of(root: str) -> Instrument:
    """The underlying instrument of an option root: index on Cboe, else a US equity."""
    if root in INDEX_ROOTS:
        return Instrument.index(INDEX_ROOTS[root])
    return Instrument.equity(re.sub(r"\d+$", "", root))


def option_contracts(file: str, symbols: pd.Series, expiry: pd.Series, right: pd.Series, strike: pd.Series,
               lines: np.ndarray, field: str) -> tuple[list[Instrument], Instrument]:
    """Option instruments from OCC-style symbols, cross-checked against the row's own terms.
    ``lines`` holds each row's line number in the file, for errors."""
    out: list[Instrument] = []
    underlying: Instrument | None = None
    for line, sym, exp, rt, k in zip(lines, symbols, expiry, right, strike, strict=True):
        m = OCC_SYMBOL.match(str(sym).strip().replace(" ", ""))
        occ_strike = Decimal(m.group(4)) / 1000 if m else None
        # before 2015 monthly options expired on the Saturday after their last trading day, and
        # their symbols carry that Saturday; the row's expiry (last trading day) is what we store
        dates = (f"{exp:%y%m%d}", f"{exp + timedelta(days=1):%y%m%d}")
        if not m or m.group(3) != rt or occ_strike != Decimal(str(k)) or m.group(2) not in dates:
            raise IngestError(file, f"option symbol {sym!r} does not match expiry {exp}, right {rt}, strike {k}",
                              row=int(line), field=field)
        root = m.group(1)
        und = underlying_of(root)
        if underlying is None:
            underlying = und
        elif und.instrument_id != underlying.instrument_id:
            raise IngestError(file, f"mixed underlyings {underlying.instrument_id} and {und.instrument_id}",
                              row=int(line), field=field)
        index = und.asset_class == "INDEX"
        out.append(Instrument.option(root, und.instrument_id, exp, rt, Decimal(str(k)),
                                     venue="XCBO" if index else "XNAS", style="EUROPEAN" if index else "AMERICAN"))
    if underlying is None:
        raise IngestError(file, "no option rows")
    return out, underlying


def check_numbers(file: str, frame: pd.DataFrame, columns: dict[str, str], first_line: int,
                   non_negative: tuple[str, ...]) -> None:
    """Numeric file columns: unparseable -> error; negative prices/sizes -> error (naming row, field)."""
    for name, file_col in columns.items():
        values = pd.to_numeric(frame[name], errors="coerce")
        raw = frame[name].astype("string").str.strip()
        bad = np.flatnonzero(values.isna().to_numpy() & raw.notna().to_numpy() & (raw != "").fillna(False).to_numpy())
        if len(bad):
            raise IngestError(file, f"not a number: {frame[name].iloc[bad[0]]!r}", row=first_line + int(bad[0]),
                              field=file_col)
        frame[name] = values.astype(float)
        inf = np.flatnonzero(np.isinf(frame[name].to_numpy()))
        if len(inf):
            raise IngestError(file, f"non-finite number {frame[name].iloc[inf[0]]!r}", row=first_line + int(inf[0]),
                              field=file_col)
        if name in non_negative:
            neg = np.flatnonzero((values < 0).to_numpy())
            if len(neg):
                raise IngestError(file, "negative value", row=first_line + int(neg[0]), field=file_col)


def write_snapshot(store: Any, underlying: Instrument, contracts: list[Instrument], frame: pd.DataFrame, as_of: int,
           spot: float | None, source: str, file: str, lines: np.ndarray, *,
           downloaded_at: int | None = None) -> None:
    frame = frame.assign(instrument_id=[c.instrument_id for c in contracts])
    dup = np.flatnonzero(frame["instrument_id"].duplicated().to_numpy())
    if len(dup):
        raise IngestError(file, f"contract {frame['instrument_id'].iloc[dup[0]]} appears twice in one snapshot",
                          row=int(lines[dup[0]]), field="option_symbol")
    ensure_instruments(store, [underlying, *contracts])
    for col in CHAIN_COLUMNS:
        if col not in frame:
            frame[col] = np.nan
    store.write_chain(underlying.instrument_id, as_of, spot, frame[CHAIN_COLUMNS].reset_index(drop=True),
                      source=source, downloaded_at=downloaded_at)
