"""Fixtures for the IB simulator tests: real SPY minute data and a gateway runner."""

from __future__ import annotations

import asyncio
import contextlib
import io
import zipfile
from pathlib import Path

import ib_async.util
import numpy as np
import pandas as pd
import pytest

from workbench.ibsim.contracts import default_catalog
from workbench.ibsim.gateway import Gateway, GatewayConfig
from workbench.ibsim.market import MemorySource

NS = 1_000_000_000
SESSION_OPEN = pd.Timestamp("2013-10-07 09:30", tz="America/New_York").tz_convert("UTC")


def load_lean_minute(source: MemorySource, folder: Path, day: str, instrument_id: str) -> None:
    """Load Lean minute quote and trade bars (deci-cent prices, ms since midnight New York) into
    ``source``: two quotes per minute (the bar's open and close) and the trade bars as 1-min bars."""
    midnight = pd.Timestamp(day, tz="America/New_York").tz_convert("UTC").value
    with zipfile.ZipFile(folder / f"{day}_quote.zip") as z:
        q = np.loadtxt(io.TextIOWrapper(z.open(z.namelist()[0])), delimiter=",")
    t0 = midnight + q[:, 0].astype(np.int64) * 1_000_000
    ts = np.concatenate([t0, t0 + 59 * NS])
    bid = np.concatenate([q[:, 1], q[:, 4]]) / 10_000
    ask = np.concatenate([q[:, 6], q[:, 9]]) / 10_000
    bsz = np.concatenate([q[:, 5], q[:, 5]])
    asz = np.concatenate([q[:, 10], q[:, 10]])
    ok = ask >= bid
    source.add_quotes(instrument_id, ts[ok], bid[ok], ask[ok], bsz[ok], asz[ok])
    with zipfile.ZipFile(folder / f"{day}_trade.zip") as z:
        t = np.loadtxt(io.TextIOWrapper(z.open(z.namelist()[0])), delimiter=",")
    source.add_bars(instrument_id, midnight + t[:, 0].astype(np.int64) * 1_000_000, t[:, 1] / 10_000,
                    t[:, 2] / 10_000, t[:, 3] / 10_000, t[:, 4] / 10_000, t[:, 5])


@pytest.fixture(scope="session")
def spy_source(real_data) -> MemorySource:
    src = MemorySource()
    load_lean_minute(src, real_data / "lean" / "equity" / "usa" / "minute" / "spy", "20131007", "SPY.ARCX")
    return src


def run(coro, timeout: float = 60.0):
    """Run a coroutine on a fresh event loop (the tests own their loops; no plugin needed).

    ib_async 2.0.1 memoises the first event loop it sees (``util.getLoop`` is ``functools.cache``d),
    so the cache is cleared for each new loop or the client would dial out on a closed one."""
    ib_async.util.getLoop.cache_clear()
    return asyncio.run(asyncio.wait_for(coro, timeout))


@contextlib.asynccontextmanager
async def gateway(source, *, start=None, speed=0.0, catalog=None, **kw):
    cfg = GatewayConfig(port=0, start=int(start if start is not None else SESSION_OPEN.value + 3600 * NS),
                        speed=speed, **kw)
    gw = Gateway(cfg, source, catalog or default_catalog())
    await gw.start()
    try:
        yield gw
    finally:
        await gw.stop()


async def settle(seconds: float = 0.05) -> None:
    await asyncio.sleep(seconds)


async def advance(gw, seconds: float) -> None:
    """Let in-flight requests reach the simulator, then move simulated time forward."""
    await asyncio.sleep(0.03)
    gw.clock.advance(seconds)


async def wait_for(predicate, timeout: float = 5.0, step: float = 0.01) -> None:
    """Poll ``predicate`` until true; fail with a clear message on timeout."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"condition not met within {timeout}s: {getattr(predicate, '__doc__', predicate)}")
        await asyncio.sleep(step)
