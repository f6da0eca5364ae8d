"""The simulator as a child process (workbench/ibsim/process.py): a real ib_async client over loopback
to a real simulator process; the node's embedded simulator is one (workbench/node/runner.py)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import ib_async

from workbench.ibsim.contracts import default_catalog
from workbench.ibsim.gateway import GatewayConfig
from workbench.ibsim.market import MemorySource, synthetic_session
from workbench.ibsim.process import spawn_gateway

from .conftest import NS, SESSION_OPEN, run

ROOT = Path(__file__).resolve().parents[2]
START = int(SESSION_OPEN.value)


def _source() -> MemorySource:
    src = MemorySource()
    synthetic_session(src, "SPY.ARCX", START - 3600 * NS, 7200, seed=3, price=168.0, step_s=0.05)
    return src


async def _connect(port: int, client_id: int = 7) -> ib_async.IB:
    ib = ib_async.IB()
    await ib.connectAsync("127.0.0.1", port, clientId=client_id, timeout=30)
    return ib


def test_spawned_gateway_streams_from_its_own_process_obeys_set_speed_and_outlives_ctrl_c():
    async def scenario():
        cfg = GatewayConfig(port=0, start=START, speed=0.0)  # frozen until set_speed, as a pair run starts it
        async with spawn_gateway(cfg, _source(), default_catalog()) as gw:
            assert gw.pid != os.getpid() and gw.port > 0
            await gw.ready()
            ib = await _connect(gw.port)
            try:
                contract = ib_async.Stock("SPY", "SMART", "USD", primaryExchange="ARCA")
                await ib.qualifyContractsAsync(contract)
                ticker = ib.reqTickByTickData(contract, "BidAsk")
                seen = []  # ib_async empties ticker.tickByTicks at each update: count them as they come
                ticker.updateEvent += lambda t: seen.extend(t.tickByTicks)
                await asyncio.sleep(0.5)
                frozen = len(seen)  # the subscription's book only: the clock stands still
                # Ctrl-C reaches the whole process group: the simulator lives on until the node stops it
                os.kill(gw.pid, signal.SIGINT)
                gw.clock.set_speed(20.0)  # 20 simulated s per wall s: ~400 quotes/s
                await asyncio.sleep(1.5)
                streamed = len(seen)
            finally:
                ib.disconnect()
            proc = gw.proc
        return frozen, streamed, proc.returncode

    frozen, streamed, rc = run(scenario())
    assert frozen <= 1 and streamed > 100, (frozen, streamed)
    assert rc == 0  # stopped by closing its command pipe, not killed


def test_simulator_process_exits_when_its_parent_is_killed(tmp_path):
    """A node killed with SIGKILL cannot stop its simulator: the child sees its stdin close and exits."""
    script = textwrap.dedent(f"""
        import asyncio, sys
        sys.path.insert(0, {str(ROOT)!r})
        from tests.ibsim.test_process import _source
        from workbench.ibsim.contracts import default_catalog
        from workbench.ibsim.gateway import GatewayConfig
        from workbench.ibsim.process import spawn_gateway

        async def main():
            async with spawn_gateway(GatewayConfig(port=0, start={START}, speed=1.0), _source(),
                                     default_catalog()) as gw:
                print(gw.pid, gw.port, flush=True)
                await asyncio.sleep(120)
        asyncio.run(main())
    """)
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        child_pid, port = map(int, parent.stdout.readline().split())
        assert _alive(child_pid)
        parent.send_signal(signal.SIGKILL)
        parent.wait(10)
        deadline = time.monotonic() + 15
        while _alive(child_pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _alive(child_pid), "the simulator outlived its killed parent"
    finally:
        parent.kill()


def _alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie, exited but not yet reaped by init, counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            return fh.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except OSError:
        return False
