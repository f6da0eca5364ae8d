"""Benchmarks for the IB simulator (``python -m benchmarks ibsim``).

* ``ibsim_connect_ms`` — median time for ``ib_async.IB().connectAsync`` (handshake, START_API and
  ib_async's full startup sync: positions, open/completed orders, account updates, executions).
  Anchor: the bare protocol handshake (API\\0 + version + START_API until managedAccounts) on a raw
  asyncio socket against the same simulator — the floor the simulator itself imposes.
* ``ibsim_msgs_per_s`` — market-data messages per second decoded by ib_async from a dense replay.
  Anchor: the same stream counted by a raw frame reader with no decoding.
* ``ib_backfill_pacing_violations`` — 162 pacing violations during a 30-session 1-min backfill
  through ``workbench.ingest.ib`` (its scheduler on the simulated clock).  Anchor: the same backfill
  with the scheduler disabled.
"""

from __future__ import annotations

import asyncio
import logging
import statistics
import time

import pandas as pd

from benchmarks.lines import emit, metric, try_anchor

NS = 1_000_000_000
START = pd.Timestamp("2013-10-07 14:00", tz="UTC").value


# metric -> (goal, higher_is_better)
GOALS = {"ibsim_connect_ms": (50.0, False), "ibsim_msgs_per_s": (20000.0, True),
         "ib_backfill_pacing_violations": (0, False)}


def _row(name, value, unit, anchor, anchor_value=None, anchor_error=None):
    goal, higher = GOALS[name]
    return metric(name, value, unit, anchor, anchor_value, anchor_error=anchor_error, goal=goal,
                  higher_is_better=higher)


async def _raw_handshake(port: int) -> float:
    from workbench.ibsim.wire import FrameReader, frame, split_fields

    t0 = time.perf_counter()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"API\0" + frame(["v157..178"]))
    fr = FrameReader()
    bodies: list[bytes] = []
    while not bodies:
        bodies = fr.feed(await reader.read(4096))
    writer.write(frame([71, 2, 99, ""]))
    seen = False
    while not seen:
        for body in fr.feed(await reader.read(4096)):
            seen = seen or split_fields(body)[0] == "15"
    dt = time.perf_counter() - t0
    writer.close()
    return dt * 1000


async def _connect_bench(n: int = 20) -> dict:
    import ib_async.util
    from ib_async import IB

    from workbench.ibsim.app import synthetic_gateway
    from workbench.ibsim.gateway import GatewayConfig

    ib_async.util.getLoop.cache_clear()
    gw = synthetic_gateway(GatewayConfig(port=0, start=START, speed=0))
    await gw.start()
    why = None
    try:
        ib_ms, raw_ms = [], []
        for i in range(n):
            if why is None:
                try:
                    raw_ms.append(await _raw_handshake(gw.port))
                except Exception as exc:  # the anchor failing must not hide our figure
                    why = f"{type(exc).__name__}: {exc}"
            ib = IB()
            t0 = time.perf_counter()
            await ib.connectAsync("127.0.0.1", gw.port, clientId=100 + i, timeout=5)
            ib_ms.append((time.perf_counter() - t0) * 1000)
            ib.disconnect()
            await asyncio.sleep(0.01)
    finally:
        await gw.stop()
    return _row("ibsim_connect_ms", statistics.median(ib_ms), "ms", "raw TWS handshake on the same simulator",
                None if why else statistics.median(raw_ms), anchor_error=why)


async def _stream(raw: bool, seconds: float = 2.0) -> float:
    """Messages/s delivered for one reqMktData subscription on a dense, fast replay."""
    import ib_async.util
    from ib_async import IB, Stock

    from workbench.ibsim.contracts import default_catalog
    from workbench.ibsim.gateway import Gateway, GatewayConfig
    from workbench.ibsim.market import MemorySource, synthetic_session
    from workbench.ibsim.wire import FrameReader, frame

    src = MemorySource()
    synthetic_session(src, "SPY.ARCX", START, 1800, seed=5, price=168.0, step_s=0.005, vol_per_step=0.0002)
    gw = Gateway(GatewayConfig(port=0, start=START, speed=0, tick_interval_s=0.002), src, default_catalog())
    await gw.start()
    try:
        if raw:
            reader, writer = await asyncio.open_connection("127.0.0.1", gw.port)
            writer.write(b"API\0" + frame(["v157..178"]))
            await reader.read(4096)
            writer.write(frame([71, 2, 1, ""]))
            writer.write(frame([1, 11, 1, 756733, "SPY", "STK", "", 0.0, "", "", "SMART", "", "USD", "", "", 0, "",
                                0, 0, ""]))
            await asyncio.sleep(0.2)
            fr = FrameReader()
            gw.clock.set_speed(200.0)
            t0, count = time.perf_counter(), 0
            while time.perf_counter() - t0 < seconds:
                count += len(fr.feed(await reader.read(1 << 20)))
            elapsed = time.perf_counter() - t0
            writer.close()
            return count / elapsed
        ib_async.util.getLoop.cache_clear()
        ib = IB()
        await ib.connectAsync("127.0.0.1", gw.port, clientId=1, timeout=5)
        spy = Stock(conId=756733, exchange="SMART")
        ib.reqMktData(spy)
        await asyncio.sleep(0.2)
        n0 = ib.client._numMsgRecv
        gw.clock.set_speed(200.0)
        t0 = time.perf_counter()
        await asyncio.sleep(seconds)
        rate = (ib.client._numMsgRecv - n0) / (time.perf_counter() - t0)
        ib.disconnect()
        return rate
    finally:
        await gw.stop()


async def _backfill(paced: bool) -> int:
    import ib_async.util
    from ib_async import IB

    from workbench.ibsim.contracts import default_catalog
    from workbench.ibsim.gateway import Gateway, GatewayConfig
    from workbench.ibsim.market import MemorySource, synthetic_minute_bars
    from workbench.ingest.ib import PacingScheduler, backfill, qualify
    from workbench.store import Store

    src = MemorySource()
    synthetic_minute_bars(src, "SPY.ARCX", pd.Timestamp("2013-08-26", tz="UTC").value, 50, seed=9, price=165.0)
    gw = Gateway(GatewayConfig(port=0, start=pd.Timestamp("2013-10-15 21:00", tz="UTC").value, speed=0), src,
                 default_catalog())
    await gw.start()
    store = Store.open(":memory:")
    ib_async.util.getLoop.cache_clear()
    ib = IB()
    ib.RaiseRequestErrors = False
    try:
        await ib.connectAsync("127.0.0.1", gw.port, clientId=3, timeout=5)

        async def sim_sleep(s):
            gw.clock.advance(s)

        sched = (PacingScheduler(clock=lambda: gw.clock.now_ns() / NS, sleep=sim_sleep) if paced
                 else PacingScheduler(burst=10**6, long_max=10**6, sleep=sim_sleep))
        contract, iid = await qualify(ib, store, "SPY")
        res = await backfill(ib, store, contract, iid, "1min", "2013-09-03", "2013-10-14", scheduler=sched,
                             sleep=sim_sleep, progress=False)
        assert res.rows == 30 * 390, res.summary()
        return gw.pacer.violations
    finally:
        ib.disconnect()
        store.close()
        await gw.stop()


def run() -> list[dict]:
    logging.getLogger("ib_async").setLevel(logging.CRITICAL)
    out = [asyncio.run(_connect_bench())]
    ib_rate = asyncio.run(_stream(raw=False))
    raw_rate, why = try_anchor(lambda: asyncio.run(_stream(raw=True)))
    out.append(_row("ibsim_msgs_per_s", ib_rate, "msgs/s", "raw frame reader on the same stream", raw_rate, why))
    paced = asyncio.run(_backfill(True))
    unpaced, why = try_anchor(lambda: asyncio.run(_backfill(False)))
    out.append(_row("ib_backfill_pacing_violations", paced, "count", "same backfill without the pacing scheduler",
                    unpaced, why))
    return out


if __name__ == "__main__":
    emit(run())
