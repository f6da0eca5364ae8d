"""Lean files on real data: counts, price scaling, time zones, quotes from quote bars, ticks,
futures, factor files and idempotency."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from workbench.ingest import ingest_lean

ET = "America/New_York"


def _utc(ts: str, tz: str = ET) -> int:
    return int(pd.Timestamp(ts, tz=tz).tz_convert("UTC").value)


def test_spy_minute_trade_bars_scaled_and_in_eastern_time(store, lean, member_lines):
    path = lean / "equity/usa/minute/spy/20131007_trade.zip"
    summary = ingest_lean(store, path, quiet=True)
    rows = member_lines(path)
    assert summary.inserted == len(rows) == 828
    bars = store.read_bars("SPY.XNAS", "1min")
    assert len(bars) == len(rows)
    # first row of the file: 14400000 ms = 04:00 ET (EDT, UTC-4) = 08:00 UTC, deci-cents / 10,000
    assert bars["ts_event"].iloc[0] == _utc("2013-10-07 04:00") == 1381132800 * 10**9
    assert bars["open"].iloc[0] == pytest.approx(int(rows[0][1]) / 10_000)
    # the first regular-session bar opens at 09:30 ET = 13:30 UTC
    regular = bars[bars["ts_event"] >= _utc("2013-10-07 09:30")].iloc[0]
    assert regular["ts_event"] == _utc("2013-10-07 13:30", "UTC")
    line = next(r for r in rows if r[0] == str(9 * 3_600_000 + 30 * 60_000))
    assert regular["close"] == pytest.approx(int(line[4]) / 10_000)
    assert regular["volume"] == int(line[5])
    assert 160 < bars["close"].median() < 175  # SPY was ~$168, not $1.68M


def test_daily_bars_follow_daylight_saving(store, lean):
    ingest_lean(store, lean / "equity/usa/daily/aapl.zip", quiet=True)
    bars = store.read_bars("AAPL.XNAS", "1d")
    assert len(bars) == 5849
    # midnight US/Eastern: 05:00 UTC in winter, 04:00 UTC in summer
    assert bars["ts_event"].iloc[0] == _utc("1998-01-02 00:00")
    assert pd.Timestamp(bars["ts_event"].iloc[0], unit="ns").hour == 5
    june = bars[bars["ts_event"] == _utc("2014-06-06 00:00")]
    assert pd.Timestamp(june["ts_event"].iloc[0], unit="ns").hour == 4
    assert june["close"].iloc[0] == pytest.approx(645.57)


def test_quote_bars_become_bid_ask_bars_and_quotes(store, lean, member_lines):
    path = lean / "equity/usa/minute/spy/20131007_quote.zip"
    ingest_lean(store, path, quiet=True)
    rows = member_lines(path)
    bid = store.read_bars("SPY.XNAS", "1min", price_type="BID")
    ask = store.read_bars("SPY.XNAS", "1min", price_type="ASK")
    quotes = store.read_quotes("SPY.XNAS")
    assert len(bid) == len(ask) == len(rows)
    first = rows[0]
    assert bid.iloc[0][["open", "high", "low", "close"]].tolist() == pytest.approx(
        [int(x) / 10_000 for x in first[1:5]])
    assert bid["volume"].iloc[0] == int(first[5])  # last bid size
    assert ask["close"].iloc[0] == pytest.approx(int(first[9]) / 10_000)
    # the closing quote of a bar is known when the bar closes: open + 1 minute
    assert quotes["ts_event"].iloc[0] == bid["ts_event"].iloc[0] + 60 * 10**9
    assert quotes["bid"].iloc[0] == pytest.approx(bid["close"].iloc[0])
    assert quotes["ask_size"].iloc[0] == int(first[10])
    assert (quotes["bid"] <= quotes["ask"]).all()


def test_second_bars(store, lean, member_lines):
    path = lean / "equity/usa/second/spy/20131007_trade.zip"
    ingest_lean(store, path, quiet=True)
    bars = store.read_bars("SPY.XNAS", "1s")
    assert len(bars) == len(member_lines(path)) == 16675
    assert np.all(np.diff(bars["ts_event"].to_numpy()) >= 10**9)


def test_tick_trades_drop_suspicious_and_count_the_repair(store, lean, member_lines):
    path = lean / "equity/usa/tick/spy/20131010_trade.zip"
    rows = member_lines(path)
    suspicious = sum(r[5] != "0" for r in rows)
    summary = ingest_lean(store, path, quiet=True)
    assert suspicious == 10
    assert summary.repairs["tick_suspicious_dropped"] == suspicious
    trades = store.read_trades("SPY.XNAS")
    assert len(trades) == len(rows) - suspicious
    assert trades["price"].iloc[0] == pytest.approx(int(rows[0][1]) / 10_000)
    logged = store.con.execute("SELECT repairs FROM ingest_log").fetchall()[0][0]
    assert '"tick_suspicious_dropped": 10' in logged


def test_tick_quotes_carry_the_other_side_forward(store, lean, member_lines):
    path = lean / "equity/usa/tick/ibm/20131007_quote.zip"
    rows = member_lines(path)
    summary = ingest_lean(store, path, quiet=True)
    quotes = store.read_quotes("IBM.XNAS")
    assert (quotes["bid"] > 0).all() and (quotes["ask"] > 0).all()
    assert (quotes["bid"] <= quotes["ask"]).all()
    rep = summary.repairs
    assert len(quotes) + rep["tick_quote_before_two_sided"] + rep["quote_crossed_dropped"] \
        + rep["tick_suspicious_dropped"] == len(rows)
    # row 3 of the file updates one side; the other side is the one last seen
    first_bid = next(int(r[1]) for r in rows if r[1] != "0") / 10_000
    first_ask = next(int(r[3]) for r in rows if r[3] != "0") / 10_000
    assert quotes["bid"].iloc[0] == pytest.approx(first_bid)
    assert quotes["ask"].iloc[0] == pytest.approx(first_ask)


def test_cme_futures_in_utc_with_plain_prices(store, lean, member_lines):
    ingest_lean(store, [lean / "future/cme/minute/es/20131007_trade.zip",
                        lean / "future/cme/minute/es/20131007_openinterest.zip",
                        lean / "future/cme/minute/es/20131007_quote.zip"], quiet=True)
    es = store.instrument("ESZ13.XCME")
    assert es.expiry == date(2013, 12, 20) and es.calendar == "CMES" and es.multiplier == 50
    assert store.instrument("ESH14.XCME").expiry == date(2014, 3, 21)
    rows = member_lines(lean / "future/cme/minute/es/20131007_trade.zip", "20131007_es_minute_trade_201312.csv")
    bars = store.read_bars("ESZ13.XCME", "1min")
    assert len(bars) == len(rows)
    assert bars["ts_event"].iloc[0] == _utc("2013-10-07 00:00", "UTC")  # ms since midnight UTC
    assert bars["open"].iloc[0] == pytest.approx(float(rows[0][1])) == pytest.approx(1676.5)
    oi = store.read_open_interest("ESZ13.XCME")
    assert oi["open_interest"].tolist() == [2691941, 2691941, 2674467]
    quotes = store.read_quotes("ESZ13.XCME")
    assert len(quotes) > 1000 and (quotes["bid"] <= quotes["ask"]).all()


def test_split_factors_adjust_on_read(store, lean):
    ingest_lean(store, [lean / "equity/usa/daily/aapl.zip", lean / "equity/usa/factor_files/aapl.csv"], quiet=True)
    window = ("2014-06-05", "2014-06-11")
    raw = store.read_bars("AAPL.XNAS", "1d", *window)
    adj = store.read_bars("AAPL.XNAS", "1d", *window, adjusted=True)
    assert raw["close"].iloc[1] == pytest.approx(645.57)  # 2014-06-06, before the 7:1 split
    assert raw["close"].iloc[2] < 100  # 2014-06-09, after it
    # the adjusted series has no split jump: the ratio of closes is the raw ratio divided by 7
    assert adj["close"].iloc[1] / adj["close"].iloc[2] == pytest.approx(raw["close"].iloc[1] / 7 / raw["close"].iloc[2])
    # and 2014-06-06 is scaled by its factor row (20140606: price 0.9011818 x split 0.0357143)
    assert adj["close"].iloc[1] == pytest.approx(645.57 * 0.9011818 * 0.0357143)
    assert adj["volume"].iloc[1] == pytest.approx(raw["volume"].iloc[1] / 0.0357143)
    assert store.info()["corporate_actions"] == 41


def test_reingest_changes_nothing(store, lean):
    folder = lean / "equity/usa/minute/goog"
    first = ingest_lean(store, folder, quiet=True)
    before = store.info()
    again = ingest_lean(store, folder, quiet=True)
    assert again.skipped == len(first.files) == 5 and store.info() == before
    forced = ingest_lean(store, folder, quiet=True, force=True)
    after = store.info()
    assert forced.inserted == 0 and forced.unchanged == first.inserted and forced.revised == 0
    assert {k: v for k, v in after.items() if k != "ingests"} == {k: v for k, v in before.items() if k != "ingests"}


def test_directory_walk_skips_non_data_files(store, lean, tmp_path):
    root = tmp_path / "lean"
    for rel in ("readme.md", "equity/readme.md", "equity/usa/map_files/qqq.csv", "equity/usa/factor_files/qqq.csv",
                "equity/usa/daily/qqq.zip"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).symlink_to(lean / rel)
    summary = ingest_lean(store, root, quiet=True)
    paths = [f.path for f in summary.files]
    assert len(paths) == 2 and "factor_files" in paths[0] and paths[1].endswith("daily/qqq.zip")
    assert store.instrument("QQQ.XNAS").asset_class == "EQUITY"
    assert len(store.read_bars("QQQ.XNAS", "1d")) == 3964
