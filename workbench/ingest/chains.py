"""Option-chain snapshot files -> ``chain_snapshots`` / ``chain_rows`` (+ option instruments).

Two layouts, told apart by their first lines (or ``fmt=``):

``ivolatility``
    iVolatility end-of-day export, one row per contract and date (``optionsuite/`` fixtures):
    ``symbol,exchange,company_name,date,stock_price_close,option_symbol,option_expiration,strike,
    call/put,style,ask,bid,mean_price,settlement,iv,volume,open_interest,stock_price_for_iv,
    forward_price,isinterpolated,delta,vega,gamma,theta,rho``. One snapshot per date, as of that
    session's close; vendor IV, greeks and forward are kept.
``cboe``
    The Cboe delayed-quotes download (``quotedata.csv``): a preamble with the underlying's last
    price and the quote time, then ``Expiration Date, Calls, Last Sale, Net, Bid, Ask, Volume, IV,
    Delta, Gamma, Open Interest, Strike, Puts, ...`` with calls | strike | puts side by side.

Index roots (SPX, SPXW, SPXPM, NDX, RUT, VIX, ...) map to the index underlying on Cboe
(``SPX.XCBO``) with European exercise; other roots are US equities (``SPY.XNAS``), American.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from datetime import date, datetime
from itertools import groupby
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from workbench.ingest.base import FileResult, IngestSummary, expand_paths, progress
from workbench.ingest.chain_dates import parse_download_time, session_stamp
from workbench.ingest.chain_rows import (
    check_numbers,
    option_contracts,
    write_snapshot,
)
from workbench.ingest.errors import IngestError
from workbench.ingest.pipeline import Job, in_write, ingest_jobs
from workbench.numbers import is_positive
from workbench.store.calendars import calendar

EASTERN = "America/New_York"
IVOL_COLUMNS = ("symbol", "exchange", "company_name", "date", "stock_price_close", "option_symbol",
                "option_expiration", "strike", "call/put", "style", "ask", "bid", "mean_price", "settlement", "iv",
                "volume", "open_interest", "stock_price_for_iv", "forward_price", "isinterpolated", "delta", "vega",
                "gamma", "theta", "rho")
_HEADER_SEARCH_LINES = 200



def ingest_chain_file(store: Any, path: str | os.PathLike, fmt: str | None = None, *,
                      force: bool = False) -> IngestSummary:
    """Ingest one chain file (``fmt``: ``"ivolatility"`` | ``"cboe"`` | None to detect)."""
    return ingest_chains(store, [path], fmt, quiet=True, force=force)


def ingest_chains(store: Any, paths: str | os.PathLike | Iterable[str | os.PathLike], fmt: str | None = None,
                  quiet: bool = False, *, force: bool = False, keep_going: bool = False) -> IngestSummary:
    """Ingest chain files, one store batch per file; layouts are detected for every file before any is read.
    ``keep_going``: a bad file (an unknown layout included) is a ``failed`` result in the summary and the
    others are read; without it an unknown layout raises before anything is written, and a bad file stops
    the run there (the files before it stay ingested: each is its own batch)."""
    files = expand_paths(paths, lambda p: p.suffix.lower() in (".csv", ".json"))
    layouts: list[str | FileResult] = []
    for path in files:
        try:
            layout = fmt or detect_layout(path)
            if layout not in _READERS:
                raise IngestError(str(path), f"unknown chain format {layout!r} (ivolatility | cboe | cboe_json)")
            layouts.append(layout)
        except IngestError as exc:
            if not keep_going:
                raise
            layouts.append(FileResult(str(path), "failed", error=str(exc)))
    summary = IngestSummary()
    # consecutive files of one layout go through one ingest_jobs call (one source, the next file read ahead)
    for layout, group in groupby(zip(files, layouts, strict=True), key=lambda fl: fl[1]):
        if isinstance(layout, FileResult):  # failed detection (keep_going)
            summary.files.extend(result for _, result in group)
            continue
        jobs = [Job(path, in_write(_READERS[layout]), force) for path, _ in group]
        summary.files.extend(ingest_jobs(store, jobs, layout, keep_going=keep_going,
                                         wrap=lambda items: progress(items, "chains", quiet)))
    return summary


def detect_layout(path: Path) -> str:
    if path.suffix.lower() == ".json":
        return "cboe_json"
    # a preamble may grow (notes, a pasted banner): look well past the usual 3 lines for the header
    with open(path, encoding="utf-8", errors="replace") as fh:
        head = [fh.readline() for _ in range(_HEADER_SEARCH_LINES)]
    if head[0].startswith("symbol,") and "option_symbol" in head[0]:
        return "ivolatility"
    if any(_is_cboe_header(line) for line in head):
        return "cboe"
    raise IngestError(str(path), "not a known option-chain layout (iVolatility header or Cboe quotedata.csv)")


# -- instruments -----------------------------------------------------------------------------------
def _session_close_ns(d: date) -> int:
    cal = calendar("XNYS")
    stamp = pd.Timestamp(d)
    if cal.is_session(stamp):
        return int(cal.session_close(stamp).value)
    return int(pd.Timestamp(datetime.combine(d, datetime.min.time()).replace(hour=16), tz=EASTERN).value)


# -- iVolatility -----------------------------------------------------------------------------------
def _ivolatility(store: Any, path: Path, data: bytes, batch: Any) -> None:
    import io

    file = str(path)
    frame = pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False)
    missing = [c for c in IVOL_COLUMNS if c not in frame.columns]
    if missing:
        raise IngestError(file, "missing column(s) " + ", ".join(missing), row=1, field=missing[0])
    unknown = [c for c in frame.columns if c not in IVOL_COLUMNS]
    if unknown:
        raise IngestError(file, "unknown column(s) " + ", ".join(unknown), row=1, field=unknown[0])
    first = 2  # line of the first data row
    numbers = {c: c for c in ("stock_price_close", "strike", "ask", "bid", "iv", "volume", "open_interest",
                              "forward_price", "delta", "vega", "gamma", "theta", "rho")}
    check_numbers(file, frame, numbers, first, ("stock_price_close", "strike", "ask", "bid", "volume",
                                                "open_interest"))
    for col, fmt in (("date", "%m/%d/%Y"), ("option_expiration", "%m/%d/%Y")):
        parsed = pd.to_datetime(frame[col], format=fmt, errors="coerce")
        bad = np.flatnonzero(parsed.isna().to_numpy())
        if len(bad):
            raise IngestError(file, f"date must be mm/dd/yyyy, got {frame[col].iloc[bad[0]]!r}",
                              row=first + int(bad[0]), field=col)
        frame[col] = parsed.dt.date
    bad = np.flatnonzero(~frame["call/put"].isin(["C", "P"]).to_numpy())
    if len(bad):
        raise IngestError(file, "right must be C or P", row=first + int(bad[0]), field="call/put")
    crossed = np.flatnonzero((frame["bid"] > frame["ask"]).to_numpy())
    if len(crossed):
        raise IngestError(file, "crossed quote (bid > ask)", row=first + int(crossed[0]), field="bid")
    frame = frame.rename(columns={"option_expiration": "expiry", "call/put": "right", "forward_price": "forward"})
    for day, rows in frame.groupby("date", sort=True):
        contracts, underlying = option_contracts(file, rows["option_symbol"], rows["expiry"], rows["right"],
                                                 rows["strike"], first + rows.index.to_numpy(), "option_symbol")
        spots = rows["stock_price_close"].unique()
        if len(spots) != 1:
            raise IngestError(file, f"several underlying closes on {day}", row=first + int(rows.index[0]),
                              field="stock_price_close")
        write_snapshot(store, underlying, contracts, rows, _session_close_ns(day), float(spots[0]), "ivolatility",
                       file, first + rows.index.to_numpy())


# -- Cboe delayed quotes ---------------------------------------------------------------------------
CBOE_SIDE = ("symbol", "last", "net", "bid", "ask", "volume", "iv", "delta", "gamma", "open_interest")
_LAST = re.compile(r"Last:\s*([0-9.,]+)")
_DATE = re.compile(r"Date:\s*(.*?)\"?\s*(?:,\s*Bid:|$)", re.MULTILINE)
_DATE_OLD = re.compile(r"([A-Za-z]{3} \d{1,2} \d{4}) @ (\d{1,2}:\d{2})")


def _is_cboe_header(line: str) -> bool:
    return line.lstrip("\ufeff\"").startswith("Expiration Date,")


def _cboe_preamble(file: str, lines: list[str]) -> tuple[int, float, int, int]:
    """(header line index, underlying last price, as_of ns, download time ns) from the lines before the table.

    ``as_of`` is the session the quotes belong to (``chain_dates.session_stamp``): a file saved
    after the close, at a weekend or pre-market holds the last session's closing quotes."""
    header = next((i for i, line in enumerate(lines[:_HEADER_SEARCH_LINES]) if _is_cboe_header(line)), None)
    if header is None:
        raise IngestError(file, "no 'Expiration Date,...' header line")
    pre = "\n".join(lines[:header])
    m = _LAST.search(pre)
    if m is None:
        raise IngestError(file, "no 'Last: <price>' for the underlying in the preamble", field="Last")
    spot = float(m.group(1).replace(",", ""))
    if not is_positive(spot):
        raise IngestError(file, f"underlying Last must be a positive finite price, got {m.group(1)!r}", field="Last")
    m_new, m_old = _DATE.search(pre), _DATE_OLD.search(pre)
    downloaded = parse_download_time(m_new.group(1)) if m_new else None
    if downloaded is None and m_old:
        local = datetime.strptime(f"{m_old.group(1)} {m_old.group(2)}", "%b %d %Y %H:%M")
        downloaded = pd.Timestamp(local, tz=EASTERN).tz_convert("UTC")
    if downloaded is None:
        got = m_new.group(1) if m_new else "nothing"
        raise IngestError(file, f"unreadable download time {got!r} (want a day, a month name, a year and h:mm)",
                          row=pre[:m_new.start()].count("\n") + 1 if m_new else None, field="Date")
    return header, spot, int(session_stamp(downloaded).value), int(downloaded.value)


def _cboe(store: Any, path: Path, data: bytes, batch: Any) -> None:
    import csv
    import io

    file = str(path)
    text = data.decode("utf-8-sig", errors="replace")
    lines = text.splitlines()
    header, spot, as_of, downloaded = _cboe_preamble(file, lines)
    rows = [r for r in csv.reader(lines[header + 1:]) if any(f.strip() for f in r)]
    first = header + 2
    for i, r in enumerate(rows):
        if len(r) != 22:
            raise IngestError(file, f"expected 22 fields (calls | strike | puts), got {len(r)}", row=first + i)
    names = ["expiry", *(f"c_{c}" for c in CBOE_SIDE), "strike", *(f"p_{c}" for c in CBOE_SIDE)]
    table = pd.DataFrame(rows, columns=names)
    expiry = pd.Series(pd.NaT, index=table.index)
    for fmt in ("%a %b %d %Y", "%m/%d/%Y", "%Y-%m-%d"):
        expiry = expiry.fillna(pd.to_datetime(table["expiry"], format=fmt, errors="coerce"))
    bad = np.flatnonzero(expiry.isna().to_numpy())
    if len(bad):
        raise IngestError(file, f"unreadable expiration {table['expiry'].iloc[bad[0]]!r}", row=first + int(bad[0]),
                          field="Expiration Date")
    table["expiry"] = expiry.dt.date
    header_names = next(csv.reader(io.StringIO(lines[header])))
    numbers = {c: header_names[names.index(c)] for c in names if c not in ("expiry", "c_symbol", "p_symbol")}
    check_numbers(file, table, numbers, first, ("strike", "c_bid", "c_ask", "p_bid", "p_ask", "c_volume",
                                                "p_volume", "c_open_interest", "p_open_interest"))
    sides = []
    for side, right in (("c", "C"), ("p", "P")):
        part = table[["expiry", "strike", *(f"{side}_{c}" for c in CBOE_SIDE)]].rename(
            columns={f"{side}_{c}": c for c in CBOE_SIDE})
        # Cboe writes 0 for a missing side: ask 0 = no offer (the leg is bid-only or unquoted),
        # not a zero price, so it is stored as NaN and never compared; bid 0 = no bid stays 0
        part["ask"] = part["ask"].where(part["ask"] > 0)
        crossed = np.flatnonzero((part["bid"] > part["ask"]).to_numpy())
        if len(crossed):
            raise IngestError(file, "crossed quote (bid > ask)", row=first + int(crossed[0]),
                              field="Bid" if side == "c" else "Bid (puts)")
        sides.append(part.assign(right=right))
    frame = pd.concat(sides).sort_index(kind="stable")
    lines = first + frame.index.to_numpy()  # calls and puts of one strike share a file line
    frame.index = range(len(frame))
    contracts, underlying = option_contracts(file, frame["symbol"], frame["expiry"], frame["right"],
                                             frame["strike"], lines, "Calls/Puts")
    write_snapshot(store, underlying, contracts, frame, as_of, spot, "cboe", file, lines, downloaded_at=downloaded)


def _cboe_json(store: Any, path: Path, data: bytes, batch: Any) -> None:
    from workbench.ingest.cboe_json import read_cboe_json

    read_cboe_json(store, path, data, batch)


_READERS = {"ivolatility": _ivolatility, "cboe": _cboe, "cboe_json": _cboe_json}
