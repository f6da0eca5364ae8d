"""Lean equity-option zips on real data: contracts decoded from member names, bars, open interest
and chain snapshots joined with trades, open interest and the underlying."""

from __future__ import annotations

import zipfile
from datetime import date
from decimal import Decimal

import pandas as pd
import pytest

from workbench.ingest import ingest_lean

MEMBER = "20151224_goog_minute_quote_american_call_7150000_20160205.csv"
CONTRACT = "GOOG160205C00715000.XNAS"


def _utc(ts: str) -> int:
    return int(pd.Timestamp(ts, tz="America/New_York").tz_convert("UTC").value)


@pytest.fixture(scope="module")
def goog_minute(real_data):
    """One store with GOOG's equity minute data and the 2015-12-24 option zips (heavy: built once)."""
    from workbench.store import Store

    lean = real_data / "lean"
    store = Store.open(":memory:")
    day = lean / "option/usa/minute/goog"
    # passed in the "wrong" order on purpose: ingest_lean orders underlying, trades, OI, quotes
    summary = ingest_lean(store, [day / "20151224_quote_american.zip", day / "20151224_openinterest_american.zip",
                                  day / "20151224_trade_american.zip", lean / "equity/usa/minute/goog"],
                          quiet=True, snapshot_times=["10:00", "15:30"])
    yield store, summary
    store.close()


def test_contract_decoded_from_member_name(goog_minute, lean, member_lines):
    store, _ = goog_minute
    inst = store.instrument(CONTRACT)
    assert (inst.underlying, inst.expiry, inst.strike, inst.right, inst.style, inst.multiplier) == (
        "GOOG.XNAS", date(2016, 2, 5), Decimal("715"), "C", "AMERICAN", 100)
    rows = member_lines(lean / "option/usa/minute/goog/20151224_quote_american.zip", MEMBER)
    bid = store.read_bars(CONTRACT, "1min", price_type="BID")
    assert len(bid) == sum(r[1] != "" for r in rows)
    assert bid["ts_event"].iloc[0] == _utc("2015-12-24 09:30")  # 34200000 ms after midnight ET
    assert bid["close"].iloc[0] == pytest.approx(int(rows[0][4]) / 10_000)
    assert len(store.instruments(asset_class="OPTION")) == 2192


def test_chain_snapshot_is_the_standing_quote(goog_minute, lean, member_lines):
    store, summary = goog_minute
    snaps = store.chain_snapshots("GOOG.XNAS")
    # 10:00 ET, and 15:30 ET clamped to the 13:00 half-day close of 2015-12-24
    assert snaps["as_of"].tolist() == [_utc("2015-12-24 10:00"), _utc("2015-12-24 13:00")]
    chain = store.read_chain("GOOG.XNAS", as_of=_utc("2015-12-24 10:00"))
    row = chain.set_index("instrument_id").loc[CONTRACT]
    rows = member_lines(lean / "option/usa/minute/goog/20151224_quote_american.zip", MEMBER)
    # the last bar that had closed by 10:00 (open + 1 minute <= 10:00), checked independently
    standing = [r for r in rows if int(r[0]) + 60_000 <= 10 * 3_600_000][-1]
    assert row["bid"] == pytest.approx(int(standing[4]) / 10_000)
    assert row["ask"] == pytest.approx(int(standing[9]) / 10_000)
    assert row["bid_size"] == int(standing[5])
    # underlying: mid of GOOG's closing BID/ASK minute bars before 10:00
    assert 740 < row["underlying_price"] < 760
    # an option without a bid is bid 0 x 0; open interest joined from the OI zip
    assert (chain["bid"] >= 0).all() and chain["open_interest"].notna().mean() > 0.9
    assert summary.repairs["quote_no_bid_as_zero"] > 0


def test_chain_joins_trades_from_the_same_day(goog_minute, lean):
    store, _ = goog_minute
    chain = store.read_chain("GOOG.XNAS").set_index("instrument_id")
    traded = chain[chain["volume"] > 0]
    assert len(traded) > 50
    iid = traded.index[0]
    bars = store.read_bars(iid, "1min", end=_utc("2015-12-24 13:00"))
    closed = bars[bars["ts_event"] + 60 * 10**9 <= _utc("2015-12-24 13:00")]
    assert traded.loc[iid, "volume"] == closed["volume"].sum()
    assert traded.loc[iid, "last"] == pytest.approx(closed["close"].iloc[-1])


def test_daily_option_zips_snapshot_each_session_close(store, lean, rezip):
    # a small real subset: the 715 strike of every expiry (daily zips hold ~2,000 contracts)
    keep = lambda name: "_7150000_" in name  # noqa: E731
    files = [rezip(lean / f"option/usa/daily/goog_2015_{kind}_american.zip",
                   f"option/usa/daily/goog_2015_{kind}_american.zip", keep=keep)
             for kind in ("quote", "trade", "openinterest")]
    ingest_lean(store, [*files, lean / "equity/usa/daily/goog.zip"], quiet=True)
    snaps = store.chain_snapshots("GOOG.XNAS")
    assert snaps["as_of"].tolist() == [_utc("2015-12-23 16:00"), _utc("2015-12-24 13:00")]
    with zipfile.ZipFile(files[0]) as zf:  # contracts quoted on each day, counted from the file itself
        days = [[line[:8] for line in zf.read(n).decode().splitlines()] for n in zf.namelist()]
    expected = [sum("20151223" in d for d in days), sum("20151224" in d for d in days)]
    assert set(snaps["source"]) == {"lean-eod"} and snaps["n_rows"].tolist() == expected == [20, 22]
    assert snaps["underlying_price"].iloc[0] == pytest.approx(
        store.read_bars("GOOG.XNAS", "1d", "2015-12-23", "2015-12-24")["close"].iloc[0])
    chain = store.read_chain("GOOG.XNAS", as_of=_utc("2015-12-23 16:00")).set_index("instrument_id")
    oi = store.read_open_interest("GOOG151231P00715000.XNAS")
    assert chain.loc["GOOG151231P00715000.XNAS", "open_interest"] == oi["open_interest"].iloc[0]
    bars = store.read_bars("GOOG160205C00715000.XNAS", "1d", price_type="ASK")
    assert set(bars["ts_event"]) <= {_utc("2015-12-23 00:00"), _utc("2015-12-24 00:00")} and len(bars)
