"""Health checks on real data, with bad rows injected through the store's own writes."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from workbench.cli.main import main
from workbench.health import HealthReport, check_health
from workbench.ingest import ingest_chain_file, ingest_lean
from workbench.store import Instrument


def _utc(ts: str) -> int:
    return int(pd.Timestamp(ts, tz="America/New_York").tz_convert("UTC").value)


@pytest.fixture
def spy(store, real_data):
    ingest_lean(store, [real_data / "lean/equity/usa/minute/spy/20131007_trade.zip",
                        real_data / "lean/equity/usa/minute/spy/20131008_trade.zip",
                        real_data / "lean/equity/usa/minute/spy/20131007_quote.zip"], quiet=True)
    return store


def _checks(report: HealthReport, severity: str | None = None) -> set[str]:
    return {f.check for f in report.findings if severity is None or f.severity == severity}


def test_clean_real_data_has_no_critical_findings(spy):
    report = check_health(spy, "SPY")
    assert report.ok and report.critical == ()
    assert "gap" not in _checks(report)  # two consecutive sessions, both present
    frame = report.to_frame()
    assert list(frame.columns) == ["severity", "check", "instrument_id", "count", "detail", "first_ts", "last_ts"]
    assert "instrument(s) checked - 0 critical" in report.summary()
    assert report.plot().data  # a plotly figure with traces


def test_injected_bad_bars_and_quotes_are_critical(spy):
    t = _utc("2013-10-08 21:00")  # after the real data: new keys, not revisions
    spy.write_bars("SPY.XNAS", "1min", pd.DataFrame({
        "ts_event": [t, t + 60 * 10**9], "open": [168.0, 0.0], "high": [167.0, 1.0], "low": [166.0, 0.0],
        "close": [166.5, 0.5], "volume": [100.0, 100.0]}), source="test")
    crossed = pd.DataFrame({"ts_event": [t + i * 10**9 for i in range(5)], "bid": [168.2] * 5, "ask": [168.1] * 5,
                            "bid_size": [100.0] * 5, "ask_size": [100.0] * 5})
    spy.write_quotes("SPY.XNAS", crossed, source="test")
    report = check_health(spy, "SPY")
    crit = {f.check: f for f in report.critical}
    assert set(crit) == {"ohlc", "nonpositive_price", "crossed_quote"}
    assert crit["ohlc"].count == 1 and crit["ohlc"].first_ts == t  # high 167 < open 168
    assert crit["nonpositive_price"].count == 1 and crit["nonpositive_price"].first_ts == t + 60 * 10**9
    assert crit["crossed_quote"].count == 5
    assert not report.ok


def test_duplicates_are_found_even_if_written_behind_the_stores_back(spy):
    spy.write_trades("SPY.XNAS", pd.DataFrame({"ts_event": [1, 2], "price": [1.0, 1.0], "size": [1.0, 1.0]}),
                     source="test")
    spy.con.execute("INSERT INTO trades SELECT * FROM trades WHERE ts_event = 2")
    dup = [f for f in check_health(spy, "SPY").critical if f.check == "duplicate"]
    assert len(dup) == 1 and dup[0].count == 1 and "trades" in dup[0].detail


def test_return_outlier_flagged_at_the_injected_bar(spy):
    bars = spy.read_bars("SPY.XNAS", "1min", _utc("2013-10-08 12:00"), _utc("2013-10-08 12:01"))
    t = int(bars["ts_event"].iloc[0]) + 30 * 10**9  # a new bar between two real ones
    spy.write_bars("SPY.XNAS", "1min", pd.DataFrame({"ts_event": [t], "open": [180.0], "high": [181.0],
                                                     "low": [179.0], "close": [180.0], "volume": [10.0]}),
                   source="test")
    out = [f for f in check_health(spy, "SPY").findings if f.check == "return_outlier" and f.severity == "WARN"]
    assert out and out[0].first_ts <= t <= out[0].last_ts


def test_split_explains_the_outlier(store, real_data):
    lean = real_data / "lean/equity/usa"
    ingest_lean(store, [lean / "daily/aapl.zip", lean / "factor_files/aapl.csv"], quiet=True)
    found = [f for f in check_health(store, "AAPL").findings if f.check == "return_outlier"]
    explained = [f for f in found if f.severity == "INFO"]
    assert explained and all("explained by split" in f.detail or "dividend" in f.detail for f in explained)
    # the 7:1 split of 2014-06-09 is among the explained ones
    split_day = _utc("2014-06-09 00:00")
    assert any(f.first_ts <= split_day <= f.last_ts for f in explained)


def test_gap_against_the_calendar(store, real_data):
    spy = real_data / "lean/equity/usa/minute/spy"
    ingest_lean(store, [spy / "20131007_trade.zip", spy / "20131010_trade.zip"], quiet=True)
    gaps = [f for f in check_health(store, "SPY").findings if f.check == "gap"]
    assert len(gaps) == 1 and gaps[0].count == 2 and "2013-10-08..2013-10-09" in gaps[0].detail


def test_chain_checks(store, real_data):
    ingest_chain_file(store, real_data / "optionsuite/spx_sample_ivolatility.csv")
    report = check_health(store, "SPX")
    nodata = [f for f in report.findings if f.check == "chain_underlying_nodata"]
    assert len(nodata) == 1 and nodata[0].count == 5 and report.ok
    # a snapshot with no underlying price (and no stored data) cannot be valued: critical
    store.upsert_instruments([Instrument.equity("XYZ")])
    frame = pd.DataFrame({"instrument_id": ["XYZ240119C00010000.XNAS"], "expiry": [pd.Timestamp("2024-01-19").date()],
                          "strike": [10.0], "right": ["C"], "bid": [1.0], "ask": [1.1]})
    store.write_chain("XYZ.XNAS", _utc("2024-01-02 15:30"), None, frame, source="test")
    assert [f.check for f in check_health(store, "XYZ").critical] == ["chain_no_underlying"]


def test_repairs_from_the_ingest_log(store, real_data):
    path = real_data / "lean/future/cme/minute/es/20131007_quote.zip"
    summary = ingest_lean(store, path, quiet=True)
    report = check_health(store, "ES")
    repairs = {f.check: f.count for f in report.findings if f.check.startswith("repair:")}
    assert repairs == {f"repair:{k}": v for k, v in summary.repairs.items() if v}
    assert repairs["repair:quote_one_sided_dropped"] > 0
    assert check_health(store, "ESZ13.XCME").findings  # a single contract also sees its file's repairs


def test_cli_exit_codes_and_json(tmp_path, real_data, capsys):
    db = str(tmp_path / "wb.duckdb")
    trade = str(real_data / "lean/equity/usa/minute/spy/20131007_trade.zip")
    assert main(["--store", db, "ingest", "lean", trade, "--quiet"]) == 0
    assert main(["--store", db, "health", "SPY"]) == 0
    assert main(["--store", db, "health", "NOPE"]) == 2
    from workbench.store import Store

    with Store.open(db) as st:
        st.write_trades("SPY.XNAS", pd.DataFrame({"ts_event": [_utc("2013-10-07 21:00")], "price": [-1.0],
                                                  "size": [1.0]}), source="test")
    capsys.readouterr()
    assert main(["--store", db, "health", "--json"]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["ok"] is False and doc["counts"]["CRITICAL"] == 1
    assert doc["findings"][0]["check"] == "nonpositive_price"


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_prices_already_stored_are_critical(spy, bad):
    """DuckDB evaluates ``NaN <= 0`` as false: a check written as "<= 0" lets NaN/inf pass."""
    t = _utc("2013-10-08 21:00")
    # pyarrow from numpy keeps NaN a NaN (pandas would turn it into a NULL)
    spy.write_bars("SPY.XNAS", "1min", pa.table({
        "ts_event": np.array([t]), "open": np.array([168.0]), "high": np.array([bad]), "low": np.array([166.0]),
        "close": np.array([167.0]), "volume": np.array([100.0])}), source="test")
    spy.write_quotes("SPY.XNAS", pa.table({"ts_event": np.array([t, t + 10**9]), "bid": np.array([168.0, 168.0]),
                                           "ask": np.array([bad, 168.1]), "bid_size": np.array([100.0] * 2),
                                           "ask_size": np.array([100.0] * 2)}), source="test")
    found = {f.detail.split(":")[0]: f for f in check_health(spy, "SPY").critical
             if f.check == "nonpositive_price"}
    assert set(found) == {"bars", "quotes"}
    assert found["bars"].count == 1 and found["bars"].first_ts == t
    assert found["quotes"].count == 1 and found["quotes"].first_ts == t


def test_repr_html_is_the_summary(spy):
    t = _utc("2013-10-08 21:00")
    spy.write_bars("SPY.XNAS", "1min", pd.DataFrame({
        "ts_event": [t], "open": [168.0], "high": [167.0], "low": [166.0], "close": [166.5], "volume": [1.0]}),
        source="test")
    report = check_health(spy, "SPY")
    html = report._repr_html_()
    assert html.startswith("<pre>") and "low/high do not bracket open/close" in html
    assert "1 critical" in html and html.count("\n") == report.summary().count("\n")
