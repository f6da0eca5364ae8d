"""IB ingest (workbench.ingest.ib) against the simulator: pacing-safe, ledgered, resumable backfill."""

from __future__ import annotations

import pandas as pd
import pytest
from ib_async import IB

from workbench.errors import WorkbenchError
from workbench.ibsim.market import MemorySource, synthetic_minute_bars
from workbench.ingest.ib import (
    APILimitError,
    MarketDataError,
    PacingScheduler,
    PrerequisiteError,
    backfill,
    error_for,
    plan_chunks,
    qualify,
)

from .conftest import NS, gateway, run

DAY0 = pd.Timestamp("2013-09-03", tz="UTC").value
NOW = pd.Timestamp("2013-10-11 21:00", tz="UTC").value


@pytest.fixture(scope="module")
def month_source() -> MemorySource:
    src = MemorySource()
    synthetic_minute_bars(src, "SPY.ARCX", DAY0, 40, seed=3, price=165.0)
    return src


def _sim_scheduler(gw) -> PacingScheduler:
    async def sleep(seconds):  # waiting advances the simulated clock instead of the wall clock
        gw.clock.advance(seconds)

    return PacingScheduler(clock=lambda: gw.clock.now_ns() / NS, sleep=sleep)


def test_error_mapping_to_seed_hierarchy():
    assert error_for(162, "Historical Market Data Service error message:HMDS query returned no data: x") is None
    assert isinstance(error_for(162, "...Historical data request pacing violation"), APILimitError)
    assert isinstance(error_for(354, "Requested market data is not subscribed."), MarketDataError)
    assert isinstance(error_for(200, "No security definition has been found"), PrerequisiteError)


def test_chunks_respect_ib_duration_limits():
    day = 86400 * NS
    sessions = [(k * day + 13 * 3600 * NS, k * day + 20 * 3600 * NS) for k in range(5)]
    assert len(plan_chunks(sessions, "1min")) == 5  # one "1 D" request per session
    five = plan_chunks(sessions, "5min")
    assert len(five) == 1 and five[0].duration == "5 D"


def test_month_backfill_is_pacing_safe_ledgered_and_resumable(store, month_source):
    async def scenario():
        async with gateway(month_source, start=NOW) as gw:
            ib = IB()
            ib.RaiseRequestErrors = False
            await ib.connectAsync("127.0.0.1", gw.port, clientId=4, timeout=5)
            contract, iid = await qualify(ib, store, "SPY")
            assert iid == "SPY.ARCX"
            sched = _sim_scheduler(gw)
            # A first run "killed" after the first two weeks...
            first = await backfill(ib, store, contract, iid, "1min", "2013-09-03", "2013-09-13", scheduler=sched,
                                   progress=False)
            assert first.requests == 9 and first.rows == 9 * 390  # Labor Day week is short: 4 + 5 sessions
            # ... then the whole month: only the missing sessions are requested.
            full = await backfill(ib, store, contract, iid, "1min", "2013-09-03", "2013-10-11", scheduler=sched,
                                  progress=False)
            assert full.requests == 20 and full.failed == 0 and full.rows == 20 * 390
            assert gw.pacer.violations == 0
            again = await backfill(ib, store, contract, iid, "1min", "2013-09-03", "2013-10-11", scheduler=sched,
                                   progress=False)
            assert again.requests == 0
            bars = store.read_bars(iid, "1min", "2013-09-03", "2013-10-12")
            src = month_source.bars(iid, int(bars.ts_event.iloc[0]), int(bars.ts_event.iloc[-1]) + 1)
            merged = bars.merge(pd.DataFrame(dict(ts_event=src.ts, src_close=src.close)), on="ts_event")
            assert len(merged) == len(bars) == 29 * 390
            assert (merged.close - merged.src_close).abs().max() < 1e-9
            ledger = store.requests("ib")
            assert (ledger.status == "DONE").sum() == 29
            ib.disconnect()

    run(scenario(), timeout=120)


def test_unpaced_requests_do_trip_the_simulator(store, month_source):
    """The anchor for the benchmark: the same requests without the scheduler get 162s."""
    async def scenario():
        async with gateway(month_source, start=NOW) as gw:
            ib = IB()
            ib.RaiseRequestErrors = False
            await ib.connectAsync("127.0.0.1", gw.port, clientId=4, timeout=5)
            contract, iid = await qualify(ib, store, "SPY")
            no_wait = PacingScheduler(burst=10**6, long_max=10**6)
            res = await backfill(ib, store, contract, iid, "1min", "2013-09-03", "2013-09-13", scheduler=no_wait,
                                 sleep=lambda s: _advance(gw, s), progress=False)
            assert gw.pacer.violations >= 1 and res.retries >= 1
            ib.disconnect()

    run(scenario(), timeout=120)


async def _advance(gw, seconds):
    gw.clock.advance(seconds)


def test_chain_snapshot_lands_in_the_store(store):
    from workbench.ibsim.app import synthetic_gateway
    from workbench.ibsim.gateway import GatewayConfig
    from workbench.ingest.ib import capture_chain

    async def scenario():
        gw = synthetic_gateway(GatewayConfig(port=0, start="2013-10-07 14:00", speed=0), seed=1)
        await gw.start()
        try:
            ib = IB()
            await ib.connectAsync("127.0.0.1", gw.port, clientId=8, timeout=5)
            n, as_of = await capture_chain(ib, store, "SPY", max_expiries=1, strikes_around=1)
            assert n == 6 and as_of == pd.Timestamp("2013-10-07 14:00", tz="UTC").value
            chain = store.read_chain("SPY")
            assert len(chain) == 6 and set(chain.right) == {"C", "P"}
            assert (chain.ask >= chain.bid).all() and (chain.bid > 0).all()
            row = chain[(chain.strike == 170.0) & (chain.right == "P")].iloc[0]
            con_id = gw.catalog.by_instrument("SPY131018P00170000.OPRA").con_id
            _, bid, ask, _, _ = gw.book_at(con_id, gw.clock.now_ns())
            assert (row.bid, row.ask) == (bid, ask)
            ib.disconnect()
        finally:
            await gw.stop()

    run(scenario())


@pytest.mark.parametrize(("field", "value", "words"), [("low", 0.0, "zero price")])
def test_backfill_refuses_bars_that_are_not_prices(store, field, value, words):
    """The same refusals as file ingest: IB bars reaching us with a zero or inf price stop the backfill."""
    src = MemorySource()
    synthetic_minute_bars(src, "SPY.ARCX", DAY0, 3, seed=3, price=165.0)
    bars = src._bars["SPY.ARCX"]
    getattr(bars, field)[:] = value  # every bar: whichever the backfill asks for first
    from workbench.ingest.ib import DataIntegrityError

    async def scenario():
        async with gateway(src, start=NOW) as gw:
            ib = IB()
            ib.RaiseRequestErrors = False
            await ib.connectAsync("127.0.0.1", gw.port, clientId=4, timeout=5)
            contract, iid = await qualify(ib, store, "SPY")
            with pytest.raises(DataIntegrityError, match=words):
                await backfill(ib, store, contract, iid, "1min", "2013-09-03", "2013-09-05",
                               scheduler=_sim_scheduler(gw), progress=False)
            assert store.read_bars(iid, "1min", "2013-09-03", "2013-09-04").empty
            ib.disconnect()

    run(scenario(), timeout=120)


@pytest.mark.parametrize(("instrument", "side", "words"), [
    ("SPY131018P00170000.OPRA", "ask", "non-finite price"),
    ("SPY131018C00170000.OPRA", "bid", "negative price"),
    ("SPY.ARCX", "ask", "no usable underlying price"),
])
def test_chain_capture_refuses_quotes_that_are_not_prices(store, instrument, side, words):
    """IB ticks with inf or negative prices (or an unusable spot) stop the snapshot; nothing is stored."""
    from workbench.ibsim.app import synthetic_gateway
    from workbench.ibsim.gateway import GatewayConfig
    from workbench.ingest.ib import capture_chain

    async def scenario():
        gw = synthetic_gateway(GatewayConfig(port=0, start="2013-10-07 14:00", speed=0), seed=1)
        getattr(gw.source._quotes[instrument], side)[:] = float("inf") if words != "negative price" else -1.5
        await gw.start()
        try:
            ib = IB()
            await ib.connectAsync("127.0.0.1", gw.port, clientId=8, timeout=5)
            before = store.info()
            with pytest.raises(Exception, match=words) as err:
                await capture_chain(ib, store, "SPY", max_expiries=1, strikes_around=1)
            assert isinstance(err.value, WorkbenchError) and "\n" not in str(err.value)
            if instrument != "SPY.ARCX":
                assert instrument in str(err.value)
            assert store.info()["chain_rows"] == before["chain_rows"] == 0
            ib.disconnect()
        finally:
            await gw.stop()

    run(scenario())
