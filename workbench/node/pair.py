"""PAPER and REAL side by side (``mode: pair``): one embedded simulator session, two execution paths.

Two nautilus TradingNodes in one process on one event loop (nautilus allows it: each node has its own
kernel, message bus, cache and clock; the IB adapter caches its clients per (host, port, client id), so
the legs dial the simulator with different client ids and share nothing but the market). PAPER fills in
nautilus's sandbox inside its node, REAL in the simulator's broker. Each leg is a full node run
(workbench/node/runner.py ``Leg``): its own run id, run folder, risk gate (no shared budget), journal,
endpoint and discovery file.

One market stream: the simulator's clock stands still at ``replay_from`` until both legs are subscribed
and hold the first book, then runs at ``speed``; from there every quote goes to both legs in the same
replay cycle, so both strategies count the same quotes (QuoteReversion's warm-up and EMA are
quote-counted). ``wb report compare PAPER_ID REAL_ID`` then measures the execution paths alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path

import msgspec

from workbench.node.config import NodeConfig
from workbench.node.runner import Leg, gateway, open_shared
from workbench.node.sharedstore import SharedStore

LEGS = ("paper", "real")


def leg_configs(cfg: NodeConfig, http_port: int | None = None) -> list[NodeConfig]:
    """The pair's two run files: PAPER with ``client_id``, REAL with ``client_id + 1``; discovery files
    ``<stem>-paper<suffix>`` / ``<stem>-real<suffix>``; HTTP ports P and P+1 (0: each a free port)."""
    from workbench.ops.control import default_control_file

    base = Path(cfg.control_file) if cfg.control_file else default_control_file()
    port = cfg.http_port if http_port is None else http_port
    return [msgspec.structs.replace(cfg, mode=mode, client_id=cfg.client_id + k, http_port=port + k if port else 0,
                                    control_file=str(base.with_name(f"{base.stem}-{mode}{base.suffix}")))
            for k, mode in enumerate(LEGS)]


async def run_pair_async(cfg: NodeConfig, duration_s: float, store_path: str | None = None, *,
                         http_port: int | None = None, ready_checks=()) -> dict:
    """Run both legs for ``duration_s`` wall seconds (from the start of the market stream) and return
    ``{mode: "pair", legs: {paper: summary, real: summary}, run_ids, compare, errors, residual_positions}``;
    ``errors`` and ``residual_positions`` gather both legs' (prefixed with the leg)."""
    path = open_shared(store_path).path
    # a SharedStore per leg: each notices operator commands by its own change stamp
    legs = [Leg(c, SharedStore(path), ready_checks=ready_checks) for c in leg_configs(cfg, http_port)]
    t0 = time.monotonic()
    with contextlib.ExitStack() as guards:
        for leg in legs:
            guards.enter_context(leg.guard())
        for leg in legs:
            leg.serve()
        async with gateway(cfg, legs[0].shared, duration_s, frozen=True) as gw:
            try:
                for leg in legs:
                    leg.start(gw.port)
                deadline = time.monotonic() + cfg.ready_timeout_s + 20.0
                await asyncio.gather(*(leg.wait_quotes(deadline) for leg in legs))
                gw.clock.set_speed(cfg.speed)  # both hold the same first book: the stream starts for both
                t0 = time.monotonic()
                await asyncio.sleep(duration_s)
            finally:
                await asyncio.gather(*(leg.stop() for leg in legs))
                for leg in legs:
                    leg.release()
    summaries = {leg.cfg.mode: leg.finish(t0) for leg in legs}
    paper, real = summaries["paper"]["run_id"], summaries["real"]["run_id"]
    return {
        "mode": "pair", "run_ids": {m: s["run_id"] for m, s in summaries.items()}, "legs": summaries,
        "compare": f"wb report compare {paper} {real}",
        "errors": [f"{m}: {e}" for m, s in summaries.items() for e in s["errors"]],
        "residual_positions": {f"{m}:{k}": v for m, s in summaries.items() for k, v in s["residual_positions"].items()},
    }
