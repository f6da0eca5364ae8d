"""Cboe delayed-quotes JSON (``cdn.cboe.com/api/global/delayed_quotes/options/<SYM>.json``) -> chain snapshot.

``{"timestamp": "2024-01-05 16:15:00", "data": {"symbol": "_SPX", "current_price": 4697.24, "options":
[{"option": "SPXW240105C04000000", "bid": .., "ask": .., "iv": .., "open_interest": .., "volume": ..,
"delta": .., "gamma": .., "last_trade_price": ..}, ...]}}``. Expiry, right and strike come from the
OCC-style symbol; the timestamp (New York time) is stamped at its session like the CSV download, and
ask 0 means no offer, as in the CSV.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from workbench.ingest.chain_dates import EXCHANGE_TZ, session_stamp
from workbench.ingest.errors import IngestError, not_utf8
from workbench.numbers import is_positive

_FIELDS = {"bid": "bid", "ask": "ask", "iv": "iv", "open_interest": "open_interest", "volume": "volume",
           "delta": "delta", "gamma": "gamma", "theta": "theta", "vega": "vega", "rho": "rho",
           "last": "last_trade_price"}


def read_cboe_json(store: Any, path: Path, data: bytes, batch: Any) -> None:
    from workbench.ingest.chain_rows import OCC_SYMBOL, check_numbers, option_contracts, write_snapshot

    file = str(path)
    try:
        doc = json.loads(data.decode("utf-8-sig"), parse_constant=lambda c: float("nan"))
    except UnicodeDecodeError as exc:
        raise not_utf8(file, exc) from None
    except json.JSONDecodeError as exc:  # its lineno/colno are 1-based already
        raise IngestError(file, f"not JSON: {exc.msg} (column {exc.colno})", row=exc.lineno) from None
    body = doc.get("data") if isinstance(doc, dict) else None
    options = body.get("options") if isinstance(body, dict) else None
    if not isinstance(options, list) or not options:
        raise IngestError(file, "no data.options list", field="data.options")
    spot = body.get("current_price", body.get("close"))
    if not is_positive(spot):
        raise IngestError(file, f"underlying current_price must be a positive finite price, got {spot!r}",
                          field="data.current_price")
    stamp = doc.get("timestamp") or body.get("last_trade_time")
    try:
        ts = pd.Timestamp(stamp)
    except (ValueError, TypeError):
        ts = pd.NaT
    if ts is pd.NaT or not isinstance(stamp, str):
        raise IngestError(file, f"unreadable timestamp {stamp!r}", field="timestamp")
    ts = ts.tz_localize(EXCHANGE_TZ) if ts.tzinfo is None else ts
    rows = []
    for i, opt in enumerate(options):
        sym = str(opt.get("option", "")) if isinstance(opt, dict) else ""
        m = OCC_SYMBOL.match(sym.replace(" ", ""))
        if m is None:
            raise IngestError(file, f"option symbol {sym!r} is not OCC-style", row=i, field="option")
        rows.append({"symbol": sym, "expiry": datetime.strptime(m.group(2), "%y%m%d").date(), "right": m.group(3),
                     "strike": int(m.group(4)) / 1000,
                     **{k: ("" if opt.get(src) is None else str(opt.get(src))) for k, src in _FIELDS.items()}})
    frame = pd.DataFrame(rows)
    check_numbers(file, frame, {k: src for k, src in _FIELDS.items()}, 0,
                  ("bid", "ask", "volume", "open_interest"))
    frame["ask"] = frame["ask"].where(frame["ask"] > 0)  # 0 = no offer
    crossed = np.flatnonzero((frame["bid"] > frame["ask"]).to_numpy())
    if len(crossed):
        raise IngestError(file, "crossed quote (bid > ask)", row=int(crossed[0]), field="bid")
    lines = np.arange(len(frame))  # "row" = index in data.options
    contracts, underlying = option_contracts(file, frame["symbol"], frame["expiry"], frame["right"],
                                             frame["strike"], lines, "option")
    write_snapshot(store, underlying, contracts, frame.drop(columns=["symbol"]), int(session_stamp(ts).value),
                   float(spot), "cboe_json", file, lines, downloaded_at=int(ts.tz_convert("UTC").value))
