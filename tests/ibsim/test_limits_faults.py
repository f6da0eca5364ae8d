"""IB's limits and the fault-injection API, exercised through the real ib_async client."""

from __future__ import annotations

import asyncio

import pytest
from ib_async import IB, MarketOrder, Stock

from workbench.ibsim.faults import load_scenario

from .conftest import NS, advance, gateway, run, settle, wait_for


async def _connect(gw, client_id=1) -> tuple[IB, list]:
    ib = IB()
    ib.RaiseRequestErrors = False
    errors: list[tuple[int, int, str]] = []
    ib.errorEvent += lambda req_id, code, msg, *a: errors.append((req_id, code, msg))
    await ib.connectAsync("127.0.0.1", gw.port, clientId=client_id, timeout=5)
    return ib, errors


def _codes(errors):
    return [c for _, c, _ in errors if c < 2100 or c > 2200]


def test_historical_pacing_rules_on_the_simulated_clock(spy_source):
    async def scenario():
        async with gateway(spy_source) as gw:
            ib, errors = await _connect(gw)
            spy = (await ib.qualifyContractsAsync(Stock("SPY", "SMART", "USD")))[0]

            async def bars(end, duration="1800 S"):
                return await ib.reqHistoricalDataAsync(spy, end, duration, "1 min", "TRADES", False)

            assert len(await bars("20131007 10:00:00 US/Eastern")) == 30
            assert len(await bars("20131007 10:00:00 US/Eastern")) == 0  # identical within 15 s
            assert _codes(errors)[-1] == 162 and "pacing violation" in errors[-1][2]
            await advance(gw, 16)
            assert len(await bars("20131007 10:00:00 US/Eastern")) == 30  # allowed again

            # Burst: the 6th request for the same contract/tick type inside 2 s is refused.
            await advance(gw, 3)
            got = [len(await bars(f"20131007 10:1{i}:00 US/Eastern")) for i in range(6)]
            assert got == [30, 30, 30, 30, 30, 0]
            assert "same contract" in errors[-1][2]

            # Long window: at most 60 requests per 10 minutes.
            await advance(gw, 600)
            n_ok = 0
            for i in range(61):
                if await bars(f"20131007 {10 + i // 60}:{i % 60:02d}:30 US/Eastern"):
                    n_ok += 1
                await advance(gw, 0.5)
            assert n_ok == 60 and "more than 60" in errors[-1][2]
            await advance(gw, 600)
            assert len(await bars("20131007 11:59:00 US/Eastern")) == 30
            assert gw.pacer.violations == 3
            ib.disconnect()

    run(scenario())


def test_invalid_bar_size_duration_and_no_data(spy_source):
    async def scenario():
        async with gateway(spy_source) as gw:
            ib, errors = await _connect(gw)
            spy = (await ib.qualifyContractsAsync(Stock("SPY", "SMART", "USD")))[0]
            # IB answers a bad bar size with 321, which ib_async files as a warning and never ends the
            # request (as against real TWS), so the request is sent without awaiting a result.
            ib.client.reqHistoricalData(99, spy, "", "1 D", "7 mins", "TRADES", 0, 1, False, [])
            await wait_for(lambda: (99, 321) in [(r, c) for r, c, _ in errors])
            assert "bar size setting is invalid" in errors[-1][2]
            assert len(await ib.reqHistoricalDataAsync(spy, "", "2 D", "1 min", "TRADES", False)) == 0
            assert errors[-1][1] == 162 and "Time length exceed max" in errors[-1][2]
            await advance(gw, 20)
            assert len(await ib.reqHistoricalDataAsync(spy, "20120101 12:00:00 UTC", "1 D", "1 min", "TRADES",
                                                   False)) == 0
            assert errors[-1][1] == 162 and "returned no data" in errors[-1][2]
            await advance(gw, 20)
            daily = await ib.reqHistoricalDataAsync(spy, "20131007 16:00:00 US/Eastern", "1 D", "1 day",
                                                    "TRADES", True)
            assert len(daily) == 1 and str(daily[0].date) == "2013-10-07"
            ib.disconnect()

    run(scenario())


def test_message_rate_limit_returns_error_100(spy_source):
    async def scenario():
        async with gateway(spy_source) as gw:
            ib, errors = await _connect(gw)
            ib.client.MaxRequests = 0  # switch off ib_async's own throttle to hit IB's limit
            for _ in range(60):
                ib.client.reqCurrentTime()
            await wait_for(lambda: 100 in _codes(errors))
            assert "Max rate of messages per second" in next(m for _, c, m in errors if c == 100)
            ib.disconnect()

    run(scenario())


def test_duplicate_client_id_is_refused_with_326(spy_source):
    async def scenario():
        async with gateway(spy_source) as gw:
            ib, _ = await _connect(gw, client_id=5)
            other = IB()
            with pytest.raises((ConnectionError, asyncio.TimeoutError)):
                await other.connectAsync("127.0.0.1", gw.port, clientId=5, timeout=2)
            assert ib.isConnected()
            ib.disconnect()

    run(scenario())


def test_reject_delay_duplicate_and_stall_faults(spy_source):
    async def scenario():
        async with gateway(spy_source) as gw:
            ib, errors = await _connect(gw)
            spy = (await ib.qualifyContractsAsync(Stock("SPY", "SMART", "USD")))[0]
            ib.reqMktData(spy)
            await settle()

            gw.broker.reject_next = "Simulated venue outage"
            rejected = ib.placeOrder(spy, MarketOrder("BUY", 10))
            await wait_for(lambda: rejected.orderStatus.status == "Cancelled")
            assert (rejected.order.orderId, 201) in [(r, c) for r, c, _ in errors]

            gw.broker.extra_fill_delay_ns = 30 * NS
            late = ib.placeOrder(spy, MarketOrder("BUY", 10))
            await advance(gw, 10)
            await settle(0.1)
            assert late.orderStatus.filled == 0
            gw.faults.duplicate_next_execution = True
            execs = []
            ib.execDetailsEvent += lambda trade, fill: execs.append(fill.execution.execId)
            await advance(gw, 25)
            await wait_for(lambda: late.orderStatus.status == "Filled")
            (session,) = gw.sessions
            await wait_for(lambda: session.sent_by_id[11] == 2)  # EXECUTION_DATA sent twice on the wire
            await settle(0.1)
            assert len(execs) == 1 and len(late.fills) == 1  # ib_async de-duplicates by execId

            gw.faults.stall_request("contract_details", seconds=0.5)
            pending = asyncio.ensure_future(ib.qualifyContractsAsync(Stock("AAPL", "SMART", "USD")))
            await settle(0.2)
            assert not pending.done()  # the stalled request is held...
            (aapl,) = await pending  # ...and answered when the stall ends
            assert aapl.conId == 265598
            ib.disconnect()

    run(scenario())


def test_connectivity_loss_and_dropped_socket(spy_source):
    async def scenario():
        async with gateway(spy_source) as gw:
            ib, errors = await _connect(gw)
            spy = (await ib.qualifyContractsAsync(Stock("SPY", "SMART", "USD")))[0]
            ticker = ib.reqMktData(spy)
            await wait_for(lambda: ticker.bid > 0)
            gw.connectivity_loss(30, data_lost=False)
            await wait_for(lambda: 1100 in _codes(errors))
            before = ticker.bid
            n_ticks = len(ticker.ticks)
            await advance(gw, 20)  # still inside the outage: nothing streams
            await settle(0.1)
            assert len(ticker.ticks) == n_ticks and ticker.bid == before
            await advance(gw, 15)
            await wait_for(lambda: 1102 in _codes(errors))

            disconnected = asyncio.Event()
            ib.disconnectedEvent += lambda: disconnected.set()
            gw.drop_connections()
            await asyncio.wait_for(disconnected.wait(), 5)
            assert not ib.isConnected()
            ib2, _ = await _connect(gw)  # the gateway keeps serving new connections
            assert ib2.isConnected()
            ib2.disconnect()

    run(scenario())


def test_scenario_file_schedules_faults_on_the_simulated_clock(spy_source, tmp_path):
    path = tmp_path / "scenario.yaml"
    path.write_text(
        "- {at: '+10s', action: reject_next_order, reason: 'from scenario'}\n"
        "- {at: '+20s', action: connectivity_loss, seconds: 5, data_lost: true}\n"
        "- {at: '+30s', action: drop_connection}\n"
    )
    bad = tmp_path / "bad.yaml"
    bad.write_text("- {at: '+1s', action: explode}\n")
    with pytest.raises(ValueError, match=r"bad.yaml fault #1: unknown action 'explode'"):
        load_scenario(bad, 0)

    async def scenario():
        async with gateway(spy_source, scenario=path) as gw:
            ib, errors = await _connect(gw)
            disconnected = asyncio.Event()
            ib.disconnectedEvent += lambda: disconnected.set()
            assert gw.broker.reject_next is None
            await advance(gw, 10.5)
            await wait_for(lambda: gw.broker.reject_next == "from scenario")
            await advance(gw, 10)
            await wait_for(lambda: 1100 in _codes(errors))
            await advance(gw, 6)
            await wait_for(lambda: 1101 in _codes(errors))
            await advance(gw, 5)
            await asyncio.wait_for(disconnected.wait(), 5)

    run(scenario())


def test_scenario_faults_timed_from_the_first_order_and_the_connection(spy_source, tmp_path):
    path = tmp_path / "scenario.yaml"
    path.write_text(
        "- {from: first_order, at: '+10s', action: reject_next_order, reason: 'after the first order'}\n"
        "- {from: connect, at: '+5s', action: delay_fills, seconds: 7}\n"
        "- {at: '+1s', action: stall_request, request: historical_data, seconds: 1}\n"
    )
    for text, match in (("- {from: first_order, at: '2024-03-04 15:00', action: drop_connection}\n",
                         "at must be relative"),
                        ("- {from: lunch, at: '+1s', action: drop_connection}\n", "from must be one of"),
                        ("- {from: connect, at: -5, action: drop_connection}\n", "must not be negative")):
        bad = tmp_path / "bad.yaml"
        bad.write_text(text)
        with pytest.raises(ValueError, match=match):
            load_scenario(bad, 0)

    async def scenario():
        async with gateway(spy_source, scenario=path) as gw:
            assert [f.action for f in gw.faults.schedule] == ["stall_request"]  # the others wait for their anchor
            await advance(gw, 30)  # long past +10 s of the start: nothing timed from the first order yet
            await settle(0.1)
            assert gw.broker.reject_next is None and gw.broker.extra_fill_delay_ns == 0
            ib, errors = await _connect(gw)
            connected = gw.clock.now_ns()
            await advance(gw, 6)
            await wait_for(lambda: gw.broker.extra_fill_delay_ns == 7 * NS)  # 5 s after the connection
            spy = (await ib.qualifyContractsAsync(Stock("SPY", "SMART", "USD")))[0]
            ib.placeOrder(spy, MarketOrder("BUY", 10))
            await settle(0.2)
            assert gw.broker.reject_next is None
            await advance(gw, 11)
            await wait_for(lambda: gw.broker.reject_next == "after the first order")
            assert gw.clock.now_ns() - connected > 15 * NS
            ib.disconnect()

    run(scenario())
