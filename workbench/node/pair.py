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

One stop (:func:`stop_in_step`): the stop request is wall-clock, the legs' order paths are not alike
(PAPER's sandbox answers in-process, REAL over a round trip), so a stop on a running market lets each
leg's stop orders (cancel working, market close) meet different quotes. The simulator's clock is frozen
at the request instead: every quote up to it is sent, both legs are let to process all of them (each
holds the last quote its session was sent, and both counted as many; a simulator in its own process
shows nothing of what it sent, and then the legs' agreement held for 0.3 s stands for it), and only then
do both begin the stop, on the same market instant with the same state. While the market stands still both exits meet
the same book. A broker that fills on arrival (zero ack and fill latency, as the pair run file sets)
needs no time to pass; one with latency, or an exit the frozen book cannot finish (a close larger than
the displayed size), gets the clock back at ``speed`` (at once, or after half of ``stop_timeout_s``) so
the rest fills on later quotes.
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
from workbench.node.stop import wait_until

LEGS = ("paper", "real")
SETTLED_POLLS = 3  # the legs in step for this many polls running: nothing of the stream left on the way
SETTLED_POLLS_REMOTE = 15  # the same without the simulator's view (its own process): 0.3 s of agreement


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
    ``{mode: "pair", legs: {paper: summary, real: summary}, run_ids, compare, stop, errors,
    residual_positions}``; ``stop`` is :func:`stop_in_step`'s account; ``errors`` and ``residual_positions``
    gather both legs' (prefixed with the leg)."""
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
                stop = await stop_in_step(gw, legs, cfg)
                for leg in legs:
                    leg.release()
    summaries = {leg.cfg.mode: leg.finish(t0) for leg in legs}
    paper, real = summaries["paper"]["run_id"], summaries["real"]["run_id"]
    return {
        "mode": "pair", "run_ids": {m: s["run_id"] for m, s in summaries.items()}, "legs": summaries,
        "compare": f"wb report compare {paper} {real}",
        "stop": stop,
        "errors": [f"pair: {e}" for e in stop["errors"]]
        + [f"{m}: {e}" for m, s in summaries.items() for e in s["errors"]],
        "residual_positions": {f"{m}:{k}": v for m, s in summaries.items() for k, v in s["residual_positions"].items()},
    }


def _held(leg: Leg) -> tuple:
    """The leg's latest quote per instrument (bid, ask, sizes; None when it has none)."""
    qs = (leg.node.cache.quote_tick(i) for i in leg.ids)
    return tuple(None if q is None else (round(q.bid_price.as_double(), 9), round(q.ask_price.as_double(), 9),
                                         round(q.bid_size.as_double(), 9), round(q.ask_size.as_double(), 9))
                 for q in qs)


def in_step(gw, legs: list[Leg]) -> bool:
    """The legs processed as many quotes, hold the same latest ones and have none queued; and, with the
    simulator on this loop (its sessions visible), each leg holds the last quote the simulator sent its
    session (bid, ask and sizes: it sends a tick only when one of them changed). A simulator in its own
    process (workbench/ibsim/process.py) shows nothing of what it sent: then the legs' agreement, held
    for :data:`SETTLED_POLLS_REMOTE` polls, stands for it."""
    views = {(leg.risk.counters.counts["quotes"], _held(leg)) for leg in legs}
    if len(views) != 1 or None in next(iter(views))[1]:
        return False
    if any(leg.node.kernel.data_engine.data_qsize() for leg in legs):
        return False
    sessions = getattr(gw, "sessions", None)
    if sessions is None:
        return True
    for leg in legs:
        subs = {sub.con_id: sub for s in sessions if s.client_id == leg.cfg.client_id
                for sub in s.subs.values() if sub.kind == "BidAsk"}
        for iid, held in zip(leg.ids, _held(leg), strict=True):
            contract = gw.catalog.by_instrument(iid.value)
            sub = subs.get(contract.con_id) if contract is not None else None
            if sub is None or not sub.last or held != tuple(round(float(x), 9) for x in sub.last):
                return False
    return True


def _exited(leg: Leg) -> bool:
    """The leg's stop began (its market exit was called) and has ended flat, or the leg has no node."""
    node = leg.node
    if node is None:
        return True
    return leg.stop_market_ns is not None and not any(s.is_exiting() for s in node.trader.strategies()) \
        and all(node.portfolio.is_flat(i) for i in leg.ids)


async def stop_in_step(gw, legs: list[Leg], cfg: NodeConfig) -> dict:
    """Stop both legs on one frozen market instant (module docstring). Always stops every leg, whatever
    went wrong before. Returns ``{frozen_market_ns, in_step, market_resumed, frozen_wall_s, errors}``:
    ``market_resumed`` says the clock ran on during the exits (latency, or the frozen book could not finish
    them), ``errors`` the pair's own lines (the legs' go to their summaries)."""
    out: dict = {"frozen_market_ns": None, "in_step": False, "market_resumed": None, "frozen_wall_s": None,
                 "errors": []}
    started = [leg for leg in legs if leg.node is not None]
    if gw is None or len(started) != len(legs):
        await asyncio.gather(*(leg.stop() for leg in legs))
        return out
    gw.clock.set_speed(0.0)
    local = hasattr(gw, "step")  # the simulator on this loop (else in its own process)
    if local:
        gw.step()  # every quote up to the frozen instant goes out now; later replay cycles send nothing new
        out["frozen_market_ns"] = gw.clock.now_ns()
    out["in_step"] = await wait_until(lambda: in_step(gw, legs), cfg.ready_timeout_s,
                                  SETTLED_POLLS if local else SETTLED_POLLS_REMOTE)
    if not out["in_step"]:
        out["errors"].append(f"stop: the legs did not process the same quotes within {cfg.ready_timeout_s}s; "
                             "their stop intents may differ")
    t_freeze = time.monotonic()
    stops = asyncio.gather(*(leg.stop() for leg in legs))
    try:
        # both exits begin (Leg.stop sets stop_market_ns just before the market exit) on the frozen book
        await wait_until(lambda: all(leg.stop_market_ns is not None for leg in legs) or stops.done(), cfg.stop_timeout_s)
        fills_on_arrival = cfg.sim_ack_latency_ms <= 0 and cfg.sim_fill_latency_ms <= 0
        held = fills_on_arrival and await wait_until(lambda: all(_exited(leg) for leg in legs) or stops.done(),
                                                 cfg.stop_timeout_s / 2)
        if not held:  # a broker with latency, or an exit the frozen book cannot finish: the market runs on
            gw.clock.set_speed(cfg.speed)
        out.update(market_resumed=not held, frozen_wall_s=round(time.monotonic() - t_freeze, 3))
        for leg in legs:
            leg.run.log.write("stop_in_step", **{k: v for k, v in out.items() if k != "errors"})
    finally:
        await stops
    return out
