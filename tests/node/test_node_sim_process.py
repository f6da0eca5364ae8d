"""The node's embedded simulator runs as a child process of the node (workbench/ibsim/process.py), so it
does not share the node's interpreter, GIL and event loop (docs/node.md, "Performance"): a real ib_async
client reaches it over loopback and its quotes come from the store the node preloaded."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import ib_async
import ib_async.util
import yaml

from workbench.node.config import node_config_from_dict
from workbench.node.runner import gateway, open_shared

ROOT = Path(__file__).resolve().parents[2]


def _parent_of(pid: int) -> int:
    with open(f"/proc/{pid}/stat", "rb") as fh:
        return int(fh.read().rsplit(b")", 1)[1].split()[1])


def test_embedded_simulator_is_a_child_process_serving_the_store(demo_store):
    doc = yaml.safe_load((ROOT / "config/node_paper.yaml").read_text())
    cfg = node_config_from_dict({**doc, "speed": 60.0})
    shared = open_shared(str(demo_store))

    async def scenario():
        async with gateway(cfg, shared, 10.0) as gw:
            pid, parent = gw.pid, _parent_of(gw.pid)
            ib = ib_async.IB()
            await ib.connectAsync("127.0.0.1", gw.port, clientId=21, timeout=30)
            try:
                contract = ib_async.Stock("DEMO", "SMART", "USD", primaryExchange="NASDAQ")
                await ib.qualifyContractsAsync(contract)
                ticker = ib.reqTickByTickData(contract, "BidAsk")
                seen = []
                ticker.updateEvent += lambda t: seen.extend(t.tickByTicks)
                await asyncio.sleep(1.5)
            finally:
                ib.disconnect()
        return pid, parent, seen, gw.proc.returncode

    ib_async.util.getLoop.cache_clear()
    pid, parent, seen, rc = asyncio.run(asyncio.wait_for(scenario(), 90))
    ib_async.util.getLoop.cache_clear()
    assert pid != os.getpid() and parent == os.getpid()
    assert len(seen) > 10, len(seen)  # the stored session replays at 60x
    assert rc == 0  # stopped with the node's exit from the context, not left running
