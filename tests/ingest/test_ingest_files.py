"""Option-chain files (iVolatility, Cboe), mapped CSV/Parquet, and coverage on real calendars."""

from __future__ import annotations

import csv
from datetime import date
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from workbench.ingest import ingest_chain_file, ingest_csv, ingest_lean, load_mapping

REPO = Path(__file__).resolve().parents[2]
MAPPINGS = REPO / "config" / "csv_mappings"
CBOE = Path(__file__).resolve().parent / "data" / "cboe_spy_quotedata.csv"


def _utc(ts: str, tz: str = "America/New_York") -> int:
    return int(pd.Timestamp(ts, tz=tz).tz_convert("UTC").value)


def test_ivolatility_one_snapshot_per_date_at_the_close(store, real_data):
    path = real_data / "optionsuite/spx_sample_ivolatility.csv"
    with open(path) as fh:
        rows = list(csv.DictReader(fh))
    summary = ingest_chain_file(store, path)
    assert summary.inserted == len(rows) == 9832
    snaps = store.chain_snapshots("SPX.XCBO")
    assert snaps["as_of"].tolist() == [_utc(f"2011-01-0{d} 16:00") for d in (3, 4, 5, 6, 7)]
    per_day = pd.Series([r["date"] for r in rows]).value_counts().sort_index()
    assert snaps["n_rows"].tolist() == per_day.tolist()
    assert store.instrument("SPX.XCBO").asset_class == "INDEX"
    first = rows[0]  # SPXW  110107C01050000 on 01/03/2011
    chain = store.read_chain("SPX.XCBO", as_of=_utc("2011-01-03 16:00")).set_index("instrument_id")
    row = chain.loc["SPXW110107C01050000.XCBO"]
    assert (row["bid"], row["ask"], row["iv"], row["delta"], row["forward"], row["underlying_price"]) == pytest.approx(
        tuple(float(first[k]) for k in ("bid", "ask", "iv", "delta", "forward_price", "stock_price_close")))
    inst = store.instrument("SPXW110107C01050000.XCBO")
    assert (inst.style, inst.underlying, inst.expiry) == ("EUROPEAN", "SPX.XCBO", date(2011, 1, 7))
    # pre-2015 monthly symbols carry the Saturday expiration; the stored expiry is the trading Friday
    assert store.instrument("SPX110121C00200000.XCBO").expiry == date(2011, 1, 21)


def test_cboe_quotedata_calls_and_puts_side_by_side(store):
    ingest_chain_file(store, CBOE)
    snap = store.chain_snapshots("SPY.XNAS")
    assert snap["as_of"].tolist() == [_utc("2023-01-20 16:00")]  # downloaded 16:15, after the close
    assert snap["underlying_price"].tolist() == [395.88]
    chain = store.read_chain("SPY.XNAS").set_index("instrument_id")
    assert len(chain) == 12
    put = chain.loc["SPY230217P00400000.XNAS"]
    assert (put["bid"], put["ask"], put["volume"], put["open_interest"], put["iv"], put["delta"]) == pytest.approx(
        (10.1, 10.2, 1207, 26771, 0.2033, -0.5228))
    assert store.instrument("SPY230217P00400000.XNAS").style == "AMERICAN"


def test_ninjatrader_minute_csv(store, real_data):
    path = real_data / "pyalgotrade/nt-spy-minute-2011.csv"
    lines = path.read_text().splitlines()
    ingest_csv(store, path, MAPPINGS / "nt-spy-minute.yaml", quiet=True)
    bars = store.read_bars("SPY.XNAS", "1min")
    assert len(bars) == len(lines) == 14180
    # "20110103 143100" is the bar ending 14:31 UTC: it opened 09:30 EST
    bar = bars[bars["ts_event"] == _utc("2011-01-03 09:30")].iloc[0]
    line = next(x for x in lines if x.startswith("20110103 143100;")).split(";")
    assert (bar["open"], bar["close"], bar["volume"]) == pytest.approx((float(line[1]), float(line[4]), int(line[5])))


def test_ib_five_minute_csv_in_recorder_local_time(store, real_data):
    files = sorted((real_data / "pyalgotrade").glob("ib-spy-5min-*.csv"))
    summary = ingest_csv(store, files, MAPPINGS / "ib-spy-5min.yaml", quiet=True)
    n_lines = sum(len(f.read_text().splitlines()) - 1 for f in files)
    assert summary.inserted == n_lines and len(files) == 3
    bars = store.read_bars("SPY.XNAS", "5min")
    # 15:30 CEST = 13:30 UTC = 09:30 EDT
    opening = bars[bars["ts_event"] == _utc("2012-06-27 09:30")]
    assert len(opening) == 1
    row = next(r for r in csv.DictReader(open(files[0])) if r["Date"] == "20120627  15:30:00")
    assert opening["open"].iloc[0] == pytest.approx(float(row["Open"]))


def test_parquet_through_a_mapping_matches_csv(store, real_data, tmp_path):
    src = real_data / "pyalgotrade/ib-spy-5min-20120628.csv"
    frame = pd.read_csv(src)
    frame["Date"] = pd.to_datetime(frame["Date"], format="%Y%m%d  %H:%M:%S")  # naive, Berlin wall time
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), tmp_path / "ib.parquet")
    doc = load_mapping(MAPPINGS / "ib-spy-5min.yaml")
    mapping = {"kind": "bars", "instrument": "QQQ.XNAS", "asset_class": "EQUITY", "bar_size": "5min",
               "format": "parquet", "time": {"columns": ["Date"], "format": "%Y", "timezone": doc.timezone},
               "fields": doc.fields, "ignore": list(doc.ignore)}
    ingest_csv(store, tmp_path / "ib.parquet", mapping, quiet=True)
    ingest_csv(store, src, doc, quiet=True)
    a = store.read_bars("QQQ.XNAS", "5min")
    b = store.read_bars("SPY.XNAS", "5min")
    pd.testing.assert_frame_equal(a, b)


def test_half_day_and_holiday_are_not_gaps(store, lean):
    goog = lean / "equity/usa/minute/goog"
    ingest_lean(store, [goog / "20151223_trade.zip", goog / "20151224_trade.zip", goog / "20151228_trade.zip"],
                quiet=True)
    assert store.missing_windows("GOOG.XNAS", "1min", "2015-12-23", "2015-12-28") == []
    assert store.present_dates("GOOG.XNAS", "1min", "2015-12-23", "2015-12-28") == [
        date(2015, 12, 23), date(2015, 12, 24), date(2015, 12, 28)]
    day = store.read_bars("GOOG.XNAS", "1min", _utc("2015-12-24 09:30"), _utc("2015-12-24 20:00"))
    regular = day[day["ts_event"] < _utc("2015-12-24 13:00")]
    # the regular session ran to 13:00: its last minute bar opens 12:59; later bars are post-market
    assert len(regular) > 100 and regular["ts_event"].max() == _utc("2015-12-24 12:59")


def test_a_missing_session_is_a_gap(store, lean):
    goog = lean / "equity/usa/minute/goog"
    ingest_lean(store, [goog / "20151223_trade.zip", goog / "20151228_trade.zip"], quiet=True)
    windows = store.missing_windows("GOOG.XNAS", "1min", "2015-12-23", "2015-12-28")
    assert [(w.first, w.last) for w in windows] == [(date(2015, 12, 24), date(2015, 12, 24))]
