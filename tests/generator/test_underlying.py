"""The generated stock: sessions, quotes, trades and bars as written to (and read back from) the store."""

from __future__ import annotations

from datetime import date

import exchange_calendars as xcals
import numpy as np
import pandas as pd

from workbench.ingest.synth_underlying import Sessions, UnderlyingSpec, simulate_underlying

UID = "DEMO.XNAS"
MIN = 60 * 10**9


def _xnys(first: str, last: str) -> pd.DataFrame:
    return xcals.get_calendar("XNYS").schedule.loc[first:last]


def _session_of(ts: np.ndarray, sched: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    opens = sched["open"].values.astype("datetime64[ns]").astype(np.int64)
    closes = sched["close"].values.astype("datetime64[ns]").astype(np.int64)
    i = np.searchsorted(opens, ts, side="right") - 1
    return i, opens, closes


def test_events_only_inside_regular_sessions_of_the_real_calendar(demo):
    sched = _xnys("2024-03-04", "2024-03-08")
    assert list(demo.market.sessions) == [d.date() for d in sched.index]
    for frame in (demo.store.read_quotes(UID), demo.store.read_trades(UID)):
        ts = frame["ts_event"].to_numpy()
        i, opens, closes = _session_of(ts, sched)
        assert (i >= 0).all() and (ts < closes[i]).all()
        assert set(i) == set(range(len(sched)))  # every session traded


def test_half_day_closes_early_and_holiday_is_absent(half_day):
    assert half_day.market.sessions == (date(2024, 11, 26), date(2024, 11, 27), date(2024, 11, 29), date(2024, 12, 2))
    q = half_day.store.read_quotes(UID)
    local = pd.to_datetime(q["ts_event"], unit="ns", utc=True).dt.tz_convert("America/New_York")
    fri = local[local.dt.date == date(2024, 11, 29)]
    assert fri.min().strftime("%H:%M") == "09:30"
    assert "12:55" <= fri.max().strftime("%H:%M") < "13:00"
    assert (local.dt.date == date(2024, 11, 28)).sum() == 0
    mon = local[local.dt.date == date(2024, 12, 2)]
    assert mon.max().strftime("%H:%M") >= "15:55"
    # the 1-min bars cover exactly the calendar's sessions, as the store's own coverage check sees it
    assert half_day.store.present_dates(UID, "1min", "2024-11-25", "2024-12-03") == list(half_day.market.sessions)
    assert half_day.store.missing_windows(UID, "1min", "2024-11-26", "2024-12-02") == []
    # a 15:30 snapshot on the half day moves to 12:30
    snaps = pd.to_datetime(list(half_day.market.snapshots), unit="ns", utc=True).tz_convert("America/New_York")
    assert [t.strftime("%H:%M") for t in snaps if t.date() == date(2024, 11, 29)] == ["10:00", "12:30"]


def test_quote_counts_rates_and_u_shaped_activity(demo):
    q = demo.store.read_quotes(UID)
    assert 50_000 <= len(q) <= 100_000
    gaps = np.diff(q["ts_event"].to_numpy()) / 1e9
    intraday = gaps[gaps < 3600]
    assert 1.0 <= intraday.mean() <= 5.0
    t = demo.store.read_trades(UID)
    local = pd.to_datetime(t["ts_event"], unit="ns", utc=True).dt.tz_convert("America/New_York")
    minute = local.dt.hour * 60 + local.dt.minute - 570
    first, mid, last = ((minute < 30).sum(), ((minute >= 180) & (minute < 210)).sum(), (minute >= 360).sum())
    assert first > 1.5 * mid and last > 1.2 * mid


def test_quotes_are_uncrossed_on_the_tick_grid_with_round_lots(demo):
    q = demo.store.read_quotes(UID)
    bid_c, ask_c = np.round(q["bid"] * 100), np.round(q["ask"] * 100)
    assert np.allclose(bid_c / 100, q["bid"], atol=1e-12, rtol=0) and np.allclose(ask_c / 100, q["ask"], atol=1e-12, rtol=0)
    spread = (ask_c - bid_c).astype(int)
    assert spread.min() >= 1 and spread.max() <= 8  # never crossed or locked
    for col in ("bid_size", "ask_size"):
        assert (q[col] % 100 == 0).all() and q[col].between(100, 2000).all()


def test_spreads_are_one_or_two_ticks_midday_and_wider_at_open_and_close(demo):
    q = demo.store.read_quotes(UID)
    local = pd.to_datetime(q["ts_event"], unit="ns", utc=True).dt.tz_convert("America/New_York")
    minute = (local.dt.hour * 60 + local.dt.minute - 570).to_numpy()
    ticks = np.round((q["ask"] - q["bid"]) * 100).to_numpy()
    midday = ticks[(minute >= 60) & (minute < 330)]
    assert np.median(midday) <= 2 and (midday <= 2).mean() > 0.85
    assert ticks[minute < 5].mean() > 1.5 * midday.mean()
    assert ticks[minute >= 388].mean() > 1.2 * midday.mean()


def test_trades_hit_the_prevailing_bid_or_ask_for_at_most_its_size(demo):
    q, t = demo.store.read_quotes(UID), demo.store.read_trades(UID)
    i = np.searchsorted(q["ts_event"].to_numpy(), t["ts_event"].to_numpy(), side="right") - 1
    assert (i >= 0).all()
    bid, ask = q["bid"].to_numpy()[i], q["ask"].to_numpy()[i]
    px, size = t["price"].to_numpy(), t["size"].to_numpy()
    at_bid, at_ask = px == bid, px == ask
    assert (at_bid | at_ask).all()
    assert 0.4 < at_ask.mean() < 0.6
    shown = np.where(at_ask, q["ask_size"].to_numpy()[i], q["bid_size"].to_numpy()[i])
    assert (size <= shown).all() and (size % 100 == 0).all() and (size > 0).all()


def test_bars_aggregate_the_stored_trades(demo):
    t = demo.store.read_trades(UID)
    local = pd.to_datetime(t["ts_event"], unit="ns", utc=True)
    g = t.groupby(local.dt.floor("1min"))["price"]
    expected = pd.DataFrame({"open": g.first(), "high": g.max(), "low": g.min(), "close": g.last(),
                             "volume": t.groupby(local.dt.floor("1min"))["size"].sum()})
    bars = demo.store.read_bars(UID, "1min")
    assert len(bars) == len(expected) == 5 * 390
    assert (bars["ts_event"].to_numpy() == expected.index.as_unit("ns").asi8).all()
    for col in expected:
        assert np.array_equal(bars[col].to_numpy(), expected[col].to_numpy()), col
    daily = demo.store.read_bars(UID, "1d")
    day = local.dt.tz_convert("America/New_York").dt.date
    assert np.array_equal(daily["volume"].to_numpy(), t.groupby(day)["size"].sum().to_numpy())
    assert np.array_equal(daily["high"].to_numpy(), t.groupby(day)["price"].max().to_numpy())
    stamps = pd.to_datetime(daily["ts_event"], unit="ns", utc=True).dt.tz_convert("America/New_York")
    assert (stamps.dt.hour == 0).all() and list(stamps.dt.date) == list(demo.market.sessions)
    assert ((bars["low"] <= bars[["open", "close"]].min(axis=1)) & (bars[["open", "close"]].max(axis=1) <= bars["high"])).all()


def test_long_run_hits_the_target_vol_with_clustering_and_leverage():
    """Forty sessions of the stock alone: realised vol near the 22% target, volatility clustering
    beyond the intraday seasonality, and the leverage effect (falls raise vol)."""
    sessions = Sessions.from_calendar("XNYS", date(2024, 1, 2), 40)
    tape = simulate_underlying(UnderlyingSpec(), sessions, np.random.default_rng(123))
    daily_close = tape.mid_at(sessions.closes - 1)
    rv = np.std(np.diff(np.log(daily_close))) * np.sqrt(252)
    assert 0.14 < rv < 0.32

    grid = np.stack([o + np.arange(0, 391 * MIN, 5 * MIN)[:79] for o in sessions.opens])  # 78 five-min returns
    grid[:, -1] = sessions.closes - 1
    r = np.diff(np.log(tape.mid_at(grid.ravel()).reshape(grid.shape)), axis=1)
    a = np.abs(r) / np.abs(r).mean(axis=0)  # remove the U-shaped time-of-day pattern
    a = a.ravel() - a.mean()
    acf = np.mean(a[1:] * a[:-1]) / np.mean(a * a)
    assert acf > 0.03

    half_hours = np.stack([o + np.arange(0, 14) * 30 * MIN for o in sessions.opens])  # 09:30 .. 16:00
    half_hours[:, -1] = sessions.closes - 1
    ret = np.diff(np.log(tape.mid_at(half_hours.ravel()).reshape(half_hours.shape)), axis=1)
    dlogvol = np.diff(np.log(tape.vol_mult_at(half_hours.ravel()).reshape(half_hours.shape)), axis=1)
    # the log-vol shock of each minute leans on the previous minute's return
    assert np.corrcoef(ret.ravel(), dlogvol.ravel())[0, 1] < -0.3
    assert 0.3 < tape.vol_mult.min() and tape.vol_mult.max() < 4.0


def test_underlying_spec_rejects_bad_values_by_name():
    import pytest

    with pytest.raises(ValueError, match="annual_vol"):
        UnderlyingSpec(annual_vol=-0.1)
    with pytest.raises(ValueError, match="leverage"):
        UnderlyingSpec(leverage=1.5)
