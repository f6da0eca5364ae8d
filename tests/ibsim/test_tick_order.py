"""A subscription that starts while the replay lags the simulated clock (the gateway's event loop was busy,
e.g. a node building on the same loop) must still stream quotes in time order: its first tick is the book
as of what has been replayed, not as of "now" followed by the older quotes the replay still owes."""

from __future__ import annotations

import ib_async
import pandas as pd

from workbench.ibsim.market import MemorySource, synthetic_session

from .conftest import NS, gateway, run, settle

START = pd.Timestamp("2013-10-07 14:00", tz="UTC").value


def test_tick_by_tick_after_a_replay_lag_stays_in_time_order():
    src = MemorySource()
    synthetic_session(src, "SPY.ARCX", START - 600 * NS, 3600, seed=5, price=168.0, step_s=0.5,
                      vol_per_step=0.001)

    async def scenario():
        # tick_interval_s: the replay loop runs once at start, then only when the test calls step()
        async with gateway(src, start=START, speed=0.0, tick_interval_s=3600.0) as gw:
            ib = ib_async.IB()
            await ib.connectAsync("127.0.0.1", gw.port, clientId=3)
            try:
                [spy] = await ib.qualifyContractsAsync(ib_async.Stock("SPY", "SMART", "USD"))
                gw.watch(spy.conId)  # the replay of SPY is running (another client subscribed before)
                gw.clock.advance(20)  # the clock moves on; the replay has not caught up yet
                seen: list = []  # the wire's tick times (ib_async stamps its Ticker with receipt time)
                wrapped = ib.wrapper.tickByTickBidAsk

                def record(req_id, time, *rest):
                    seen.append(time)
                    wrapped(req_id, time, *rest)

                ib.wrapper.tickByTickBidAsk = record
                ib.reqTickByTickData(spy, "BidAsk")
                await settle(0.3)
                gw.step()  # the replay catches up: the 20 s of quotes it owed
                await settle(0.3)
            finally:
                ib.disconnect()
            return seen

    times = run(scenario())
    assert len(times) > 10, times
    assert times == sorted(times), times[:5]
