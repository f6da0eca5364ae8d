from __future__ import annotations

import dataclasses
from datetime import date
from decimal import Decimal

import exchange_calendars as xcals
import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest

from workbench.store import Instrument, Store

NY = "America/New_York"


def _minute_bars(day: str, start: str = "09:30", end: str = "16:00", price: float = 100.0) -> pd.DataFrame:
    idx = pd.date_range(f"{day} {start}", f"{day} {end}", freq="1min", inclusive="left", tz=NY)
    n = len(idx)
    return pd.DataFrame({"ts_event": idx.tz_convert("UTC").as_unit("ns").asi8, "open": price, "high": price + 1,
                         "low": price - 1, "close": price, "volume": np.arange(n, dtype=float)})


@pytest.fixture
def spy(store: Store) -> str:
    store.upsert_instruments([Instrument.equity("SPY")])
    return "SPY.XNAS"


def test_reingest_is_idempotent_and_revisions_are_recorded(store, spy):
    bars = _minute_bars("2015-12-23")
    first = store.write_bars(spy, "1min", bars, source="t")
    assert (first.inserted, first.unchanged, first.revised) == (390, 0, 0)
    before = store.info()
    again = store.write_bars(spy, "1min", bars, source="t")
    assert (again.inserted, again.unchanged, again.revised) == (0, 390, 0)
    after = store.info()
    assert {k: v for k, v in after.items() if k != "ingests"} == {k: v for k, v in before.items() if k != "ingests"}

    changed = bars.copy()
    changed.loc[5, "close"] = 101.5
    rev = store.write_bars(spy, "1min", changed, source="t")
    assert (rev.inserted, rev.unchanged, rev.revised) == (0, 389, 1)
    # the stored row is kept; the differing delivery is on record
    assert store.read_bars(spy, "1min")["close"].iloc[5] == 100.0
    revision = store.con.execute("SELECT key, old_values, new_values FROM revisions").fetchall()
    assert len(revision) == 1 and "101.5" in revision[0][2] and '"close":100.0' in revision[0][1]


def test_failed_batch_leaves_store_unchanged(store, spy):
    store.write_bars(spy, "1min", _minute_bars("2015-12-23"), source="t")
    before = store.info()
    with pytest.raises(ValueError, match="duplicate key"), store.ingest("t", path="bad.csv"):
        store.write_bars(spy, "1min", _minute_bars("2015-12-28"), source="t")  # would succeed alone
        dup = _minute_bars("2015-12-29").iloc[[0, 0]]
        store.write_bars(spy, "1min", dup, source="t")
    assert store.info() == before
    assert store.read_bars(spy, "1min", "2015-12-28", "2015-12-29").empty


def test_missing_column_is_named(store, spy):
    with pytest.raises(ValueError, match="missing column.*volume"):
        store.write_bars(spy, "1min", _minute_bars("2015-12-23").drop(columns="volume"))


def test_gaps_follow_the_real_nyse_calendar(store, spy):
    for day in ("2015-12-21", "2015-12-22", "2015-12-23", "2015-12-28", "2015-12-30", "2015-12-31"):
        store.write_bars(spy, "1min", _minute_bars(day), source="t")
    store.write_bars(spy, "1min", _minute_bars("2015-12-24", end="13:00"), source="t")  # half day
    # 12-25 is a holiday: not a gap. 12-29 has only pre-market bars: a gap.
    store.write_bars(spy, "1min", _minute_bars("2015-12-29", start="07:00", end="09:00"), source="t")
    present = store.present_dates(spy, "1min", "2015-12-21", "2015-12-31")
    assert date(2015, 12, 24) in present and date(2015, 12, 25) not in present
    windows = store.missing_windows(spy, "1min", "2015-12-18", "2016-01-05")
    spans = [(w.first, w.last) for w in windows]
    assert spans == [(date(2015, 12, 18), date(2015, 12, 18)), (date(2015, 12, 29), date(2015, 12, 29)),
                     (date(2016, 1, 4), date(2016, 1, 5))]
    # the window ends at that session's real close (16:00 ET)
    assert pd.Timestamp(windows[1].end_ns, tz="UTC").tz_convert(NY).hour == 16


def test_missing_windows_many_symbols_one_call(store):
    insts = [Instrument.equity(f"S{i}") for i in range(20)]
    store.upsert_instruments(insts)
    days = xcals.get_calendar("XNYS").sessions_in_range("2020-01-01", "2020-03-31")
    for k, inst in enumerate(insts):
        keep = days[(np.arange(len(days)) % (k + 2)) != 0]
        ts = keep.tz_localize(NY).as_unit("ns").asi8
        frame = pd.DataFrame({"ts_event": ts, "open": 1.0, "high": 1.0, "low": 1.0, "close": 1.0, "volume": 1.0})
        store.write_bars(inst.instrument_id, "1d", frame, source="t")
    out = store.missing_windows([i.instrument_id for i in insts], "1d", "2020-01-01", "2020-03-31")
    assert set(out) == {i.instrument_id for i in insts}
    # every business day that was dropped and is an NYSE session is reported
    dropped = days[(np.arange(len(days)) % 2) == 0]
    expected = sorted(d.date() for d in dropped)
    cal = xcals.get_calendar("XNYS")
    got = sorted(d.date() for w in out["S0.XNAS"] for d in cal.sessions_in_range(w.first, w.last))
    assert got == expected
    assert all(w.first <= w.last for ws in out.values() for w in ws)


def test_read_formats_and_adjusted_view(store, spy):
    days = ["2014-06-05", "2014-06-06", "2014-06-09"]
    rows = [{"ts_event": pd.Timestamp(d, tz=NY).value, "open": p, "high": p, "low": p, "close": p, "volume": 700.0}
            for d, p in zip(days, [647.35, 645.57, 93.70], strict=True)]
    store.write_bars(spy, "1d", pd.DataFrame(rows), source="t")
    store.write_corporate_actions(spy, pd.DataFrame({
        "date": [date(2014, 6, 6), date(2050, 12, 31)], "price_factor": [1.0, 1.0], "split_factor": [1 / 7, 1.0]}))
    assert isinstance(store.read_bars(spy, "1d", as_="arrow"), pa.Table)
    assert isinstance(store.read_bars(spy, "1d", as_="polars"), pl.DataFrame)
    adj = store.read_bars(spy, "1d", adjusted=True)
    assert adj["close"].round(2).tolist() == [round(647.35 / 7, 2), round(645.57 / 7, 2), 93.70]
    assert adj["volume"].tolist() == [4900.0, 4900.0, 700.0]
    assert store.read_bars(spy, "1d")["close"].tolist() == [647.35, 645.57, 93.70]


def test_instrument_terms_cannot_be_silently_redefined(store):
    opt = Instrument.option("GOOG", "GOOG.XNAS", date(2016, 2, 5), "C", "715")
    assert opt.instrument_id == "GOOG160205C00715000.XNAS"
    store.upsert_instruments([opt])
    assert store.upsert_instruments([opt]) == 0
    with pytest.raises(ValueError, match="terms differ"):
        store.upsert_instruments([Instrument.option("GOOG", "GOOG.XNAS", date(2016, 2, 5), "C", "715",
                                                    multiplier=10)])


def test_file_store_migrates_once_and_reopens(tmp_path):
    path = tmp_path / "wb.duckdb"
    with Store.open(path) as s:
        s.upsert_instruments([Instrument.equity("SPY")])
        assert s.schema_version >= 1
    with Store.open(path) as s:
        assert s.migrate() == []
        assert s.info()["instruments"] == 1


def test_chain_roundtrip_and_latest_snapshot(store):
    store.upsert_instruments([Instrument.equity("DEMO")])
    rows = pd.DataFrame({"instrument_id": ["A", "B"], "expiry": [date(2024, 4, 19)] * 2, "strike": [100.0, 100.0],
                         "right": ["C", "P"], "bid": [1.0, 0.9], "ask": [1.1, 1.0]})
    t0, t1 = pd.Timestamp("2024-03-04 15:00", tz="UTC").value, pd.Timestamp("2024-03-05 15:00", tz="UTC").value
    store.write_chain("DEMO", t0, 100.0, rows, source="t")
    store.write_chain("DEMO", t1, 101.0, rows.assign(bid=[1.2, 0.8]), source="t")
    snaps = store.chain_snapshots("DEMO")
    assert snaps["n_rows"].tolist() == [2, 2]
    latest = store.read_chain("DEMO")
    assert latest["underlying_price"].iloc[0] == 101.0 and latest["bid"].tolist() == [1.2, 0.8]
    assert np.isnan(latest["iv"]).all()
    assert store.read_chain("DEMO", as_of=t0 + 1)["bid"].tolist() == [1.0, 0.9]
    with pytest.raises(LookupError):
        store.read_chain("DEMO", as_of=t0 - 1)


def test_request_ledger(store):
    rid = store.record_request("ib", "SPY|1min|2024-03-04", {"bar": "1min"}, 1, 2)
    assert not store.request_done("ib", "SPY|1min|2024-03-04")
    store.complete_request(rid, "DONE", rows=390)
    assert store.request_done("ib", "SPY|1min|2024-03-04")
    assert store.requests("ib")["rows"].tolist() == [390]


def test_instrument_seen_in_a_rolled_back_batch_is_not_remembered(store):
    """upsert_instruments/instrument_key remember what this connection saw stored; a rollback must
    drop that memory, or the instrument would be 'known' but absent (and bars keyed to a dead ikey)."""
    xyz = Instrument.equity("XYZ")
    with pytest.raises(RuntimeError), store.ingest("t"):
        assert store.upsert_instruments([xyz]) == 1
        store.instrument_key("XYZ.XNAS")
        raise RuntimeError("file failed after registering its instrument")
    assert store.find_instrument("XYZ.XNAS") is None
    assert store.upsert_instruments([xyz]) == 1  # inserted again, not skipped as known
    store.write_bars("XYZ.XNAS", "1min", _minute_bars("2015-12-23"), source="t")
    ikey = store.con.execute("SELECT ikey FROM instruments WHERE instrument_id = 'XYZ.XNAS'").fetchall()[0][0]
    assert store.con.execute("SELECT DISTINCT ikey FROM bars").fetchall() == [(ikey,)]
    assert store.upsert_instruments([xyz]) == 0
    with pytest.raises(ValueError, match="terms differ"):
        store.upsert_instruments([dataclasses.replace(xyz, price_increment=Decimal("0.05"))])
