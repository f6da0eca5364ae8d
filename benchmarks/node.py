"""Node suite: the scripted nautilus node (`wb node run`) on the embedded IB simulator, this machine's cores.

Arms (each its own process: nautilus keeps process-global state), alternated ours/raw/ours/raw:
- **ours**: ``workbench.node.run_node`` with the shipped PAPER run file's strategy entry (QuoteReversion,
  gated) — the node as `wb node run` builds it, embedded simulator included.
- **raw**: a plain nautilus ``TradingNode`` (IB data client + sandbox execution, configured by hand) running
  the same QuoteReversion logic on a plain ``Strategy`` (benchmarks/node_probe.py), against the same embedded
  simulator (started the same way, in-process, quotes preloaded from the same store; same replay start and speed).
Both carry the same ``NodeProbe`` (a non-trading strategy entry) which measures one fixed wall window from
the first quote: quotes/s, tick-to-submit latency (quote ``ts_init`` -> ``OrderSubmitted``, one clock) and
process CPU seconds. The market is the generator's DEMO session with a quote every 0.05 s on average, replayed
at ``NODE_SPEED`` (default 150: ~3,000 quotes/s offered) simulated seconds per wall second. ``keepup`` = the
exchange time the node's quotes advanced per wall second / speed: below ~0.95 the node fell behind the
simulator (the quotes queue in the socket), and the events/s figure is then its ceiling, not the offered rate.

Intent match: the first ours run's orders vs the backtest of exactly the quotes that run received (the
stored session between its first and last quote) — see ``intent_match``.

Crash campaign (``NODE_CRASH_TRIALS``, default 20): ``workbench.node.recovery.crash_campaign`` — a REAL
``wb node run`` against ``wb gateway sim`` running as its own process (demo market, speed 120), killed with
SIGKILL 0.3-3 s after each (re)start's first order at the broker, restarted with the same run file; then one clean run.
Counts: duplicate orders at the broker (a client order id or IB order id accepted twice), restarts whose
reconciled position differed from the broker's (within 5 s) plus a final position differing from the broker's.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
SPEED = float(os.environ.get("NODE_SPEED", "150"))
WINDOW_S = float(os.environ.get("NODE_WINDOW_S", "10"))
ROUNDS = int(os.environ.get("NODE_ROUNDS", "2"))
CRASH_TRIALS = int(os.environ.get("NODE_CRASH_TRIALS", "20"))
REPLAY_FROM = "2024-03-04 15:00"


def _entry() -> dict:
    return yaml.safe_load((ROOT / "config/node_paper.yaml").read_text())["strategies"][0]


def _probe(out: Path, gated: bool) -> dict:
    return {"strategy_path": "benchmarks.node_probe:NodeProbe", "config_path": "benchmarks.node_probe:NodeProbeConfig",
            "config": {"instrument_id": _entry()["config"]["instrument_id"], "out": str(out), "window_s": WINDOW_S,
                       "gated": gated}}


def _metric(name, value, unit, goal, higher_is_better, anchor=None, anchor_value=None, **extra):
    ok = value is not None and np.isfinite(value)
    meets = bool(ok and (value >= goal if higher_is_better else value <= goal))
    ratio = (value / anchor_value) if ok and anchor_value else None
    return {"metric": name, "value": value, "unit": unit, "anchor": anchor, "anchor_value": anchor_value,
            "ratio": ratio, "goal": goal, "meets": meets, "higher_is_better": higher_is_better, **extra}


def make_store(path: Path) -> str:
    """The generator's DEMO session with a quote every 0.05 s on average, without consecutive identical rows
    (IB's tick-by-tick BidAsk never repeats an unchanged quote, so the backtest would see rows a live node
    cannot: the generator emits ~1.3 % of them). Returns the instrument id."""
    from workbench.ingest.generator import MarketConfig, generate_market
    from workbench.ingest.synth_underlying import UnderlyingSpec
    from workbench.store import Store

    cfg = MarketConfig(n_sessions=1, underlying=UnderlyingSpec(quote_interval_s=0.05))
    iid = f"{cfg.symbol}.{cfg.venue}"
    with Store.open(":memory:") as mem:
        generate_market(mem, cfg)
        q = mem.read_quotes(iid, as_="pandas")
        inst = mem.instrument(iid)
    cols = ["bid", "ask", "bid_size", "ask_size"]
    repeat = (q[cols].shift() == q[cols]).all(axis=1)
    with Store.open(str(path)) as store:
        store.upsert_instruments([inst])
        store.write_quotes(iid, q[~repeat].reset_index(drop=True), source="bench")
    return iid


# ---------------------------------------------------------------------------------------------- child arms
def _child_ours(cfg_path: str, store: str, duration: float) -> dict:
    from workbench.node import load_node_config, run_node

    return run_node(load_node_config(cfg_path), duration, store_path=store)


async def _raw_async(doc: dict, store_path: str, duration: float) -> dict:
    """The anchor node: plain nautilus configuration, no workbench node code (the simulator is ours)."""
    import asyncio
    import contextlib

    from nautilus_trader.adapters.interactive_brokers.common import IBContract
    from nautilus_trader.adapters.interactive_brokers.config import (
        InteractiveBrokersDataClientConfig,
        InteractiveBrokersInstrumentProviderConfig,
    )
    from nautilus_trader.adapters.interactive_brokers.factories import InteractiveBrokersLiveDataClientFactory
    from nautilus_trader.adapters.sandbox.config import SandboxExecutionClientConfig
    from nautilus_trader.adapters.sandbox.factory import SandboxLiveExecClientFactory
    from nautilus_trader.config import ImportableStrategyConfig, LoggingConfig, TradingNodeConfig
    from nautilus_trader.live.node import TradingNode

    from workbench.ibsim.account import AccountConfig
    from workbench.ibsim.app import catalog_from_store, start_of
    from workbench.ibsim.broker import BrokerConfig
    from workbench.ibsim.gateway import LOOKBACK_NS, Gateway, GatewayConfig
    from workbench.node.sharedstore import preload_source
    from workbench.store import Store

    iid = doc["strategies"][0]["config"]["instrument_id"]
    symbol, venue = iid.split(".")
    gcfg = GatewayConfig(host="127.0.0.1", port=0, start=start_of(doc["replay_from"]), speed=doc["speed"],
                         broker=BrokerConfig(account=AccountConfig(account="DU1234567")))
    # the simulator's quotes preloaded over the same horizon as ours (workbench.node.runner.gateway), so
    # neither arm's loop reads DuckDB during the measured window
    start = gcfg.start_ns()
    with Store.open(store_path, read_only=True) as store:
        catalog = catalog_from_store(store)
        source = preload_source(store, [iid], start - LOOKBACK_NS, start + int((duration + 60.0) * gcfg.speed * 1e9))
    gw = Gateway(gcfg, source, catalog)
    await gw.start()
    provider = InteractiveBrokersInstrumentProviderConfig(
        load_contracts=frozenset([IBContract(secType="STK", symbol=symbol, exchange="SMART", primaryExchange="NASDAQ",
                                             currency="USD")]),
        convert_exchange_to_mic_venue=True, symbol_to_mic_venue={symbol: venue})
    entries = [dict(e) for e in doc["strategies"]]
    entries[0] = {"strategy_path": "benchmarks.node_probe:RawQuoteReversion",
                  "config_path": entries[0]["config_path"], "config": entries[0]["config"]}
    node = TradingNode(config=TradingNodeConfig(
        trader_id="RAW-001", logging=LoggingConfig(log_level="ERROR"),
        data_clients={"IB": InteractiveBrokersDataClientConfig(
            ibg_host="127.0.0.1", ibg_port=gw.port, ibg_client_id=11, instrument_provider=provider,
            ignore_quote_tick_size_updates=True)},
        exec_clients={"SANDBOX": SandboxExecutionClientConfig(
            venue=venue, starting_balances=["1000000.0 USD"], base_currency="USD", oms_type="NETTING",
            account_type="MARGIN")},
        strategies=[ImportableStrategyConfig(**e) for e in entries],
        timeout_connection=20.0, timeout_reconciliation=10.0, timeout_portfolio=10.0, timeout_disconnection=5.0,
        timeout_post_stop=1.0))
    node.add_data_client_factory("IB", InteractiveBrokersLiveDataClientFactory)
    node.add_exec_client_factory("SANDBOX", SandboxLiveExecClientFactory)
    node.build()
    task = asyncio.create_task(node.run_async())
    try:
        await asyncio.sleep(duration)
    finally:
        await node.stop_async()
        node.kernel.dispose()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
        await gw.stop()
    return {"mode": "raw"}


def _child(arm: str, cfg_path: str, store: str, duration: float) -> None:
    import asyncio
    import faulthandler

    import ib_async.util

    # a node that does not exit ends here, its threads' stacks on stderr for the parent's error message
    faulthandler.dump_traceback_later(duration + 60, exit=True)
    ib_async.util.getLoop.cache_clear()
    import nautilus_trader.system.kernel  # noqa: F401 - sets the uvloop policy, as for ours: same event loop

    if arm == "ours":
        summary = _child_ours(cfg_path, store, duration)
    else:
        summary = asyncio.run(_raw_async(yaml.safe_load(Path(cfg_path).read_text()), store, duration))
    print(json.dumps(summary, default=str), flush=True)


# ---------------------------------------------------------------------------------------------- parent
def _arm(arm: str, work: Path, store: Path, k: int) -> tuple[dict, dict]:
    out = work / f"{arm}{k}.json"
    doc = {"mode": "paper", "replay_from": REPLAY_FROM, "speed": SPEED, "control_file": str(work / f"control{k}.json"),
           "strategies": [_entry(), _probe(out, gated=arm == "ours")]}
    cfg = work / f"{arm}{k}.yaml"
    cfg.write_text(yaml.safe_dump(doc, sort_keys=False))
    duration = WINDOW_S + 8.0  # connect + first quote (~1-3 s) + the window + margin
    proc = subprocess.run([sys.executable, "-m", "benchmarks.node", arm, str(cfg), str(store), str(duration)],
                          capture_output=True, text=True, timeout=duration + 120, cwd=ROOT)
    if proc.returncode != 0 or not out.exists():
        raise RuntimeError(f"node bench arm {arm} failed (rc {proc.returncode}): {proc.stderr[-1500:]}")
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    return summary, json.loads(out.read_text())


def _latencies_ms(probe: dict) -> np.ndarray:
    lat = [(o["submitted"] - o["q_ts_init"]) / 1e6 for o in probe["orders"].values()
           if o["submitted"] is not None and not o["reduce_only"]]
    return np.asarray(lat, dtype=float)


def _align(live: list, sec: np.ndarray, bid: np.ndarray, ask: np.ndarray) -> tuple[int, int] | None:
    """(live offset, store offset) where the live quote stream starts to run in step with the store's.
    The first live quote can be the subscription's snapshot, out of step with the replay that follows."""
    for lo in range(min(5, len(live))):
        first = live[lo]
        cand = np.flatnonzero((sec == first[1]) & np.isclose(bid, first[2]) & np.isclose(ask, first[3]))
        for c in cand:
            n = min(50, len(live) - lo, len(sec) - c)
            if n > 0 and all(sec[c + i] == live[lo + i][1] and np.isclose(bid[c + i], live[lo + i][2])
                             and np.isclose(ask[c + i], live[lo + i][3]) for i in range(n)):
                return lo, int(c)
    return None


def _state_at(inits: dict[str, int], events: list, n: int, events_before_decision: bool) -> list[tuple]:
    """(position, working orders) the strategy held when it decided on quote k, for k in [0, n): orders
    initialised before k; fills and closes recorded at quotes before k, and at k itself when the venue
    handles a quote before the strategy does (the backtest's exchange matches quote k, then the strategy
    sees it; live, the sandbox's fill on quote k reaches the strategy after its decision on k)."""
    delta_pos, delta_work = np.zeros(n + 1), np.zeros(n + 1, dtype=np.int64)
    for k in inits.values():
        if 0 <= k < n:
            delta_work[k + 1] += 1
    shift = 0 if events_before_decision else 1
    for k, kind, coid, qty in events:
        if 0 <= k < n and (kind == "fill" or coid in inits):
            if kind == "fill":
                delta_pos[k + shift] += qty
            else:
                delta_work[k + shift] -= 1
    return list(zip(np.cumsum(delta_pos)[:n].round(6), np.cumsum(delta_work)[:n], strict=True))


def _backtest_timeline(res, ts: np.ndarray, start: int) -> tuple[dict[str, int], list]:
    from nautilus_trader.model.enums import OrderSide

    idx = lambda t: int(np.searchsorted(ts, t, side="right") - 1 - start)  # noqa: E731
    inits, events = {}, []
    for order in res.engine.cache.orders():
        coid = order.client_order_id.value
        inits[coid] = idx(order.ts_init)
        for e in order.events:
            name = type(e).__name__
            if name == "OrderFilled":
                events.append((idx(e.ts_event), "fill", coid,
                               float(e.last_qty) * (1 if e.order_side == OrderSide.BUY else -1)))
        if order.is_closed:
            events.append((idx(order.ts_last), "close", coid, 0.0))
    return inits, events


def intent_match(probe: dict, store_path: Path) -> dict:
    """Match one PAPER run's new orders against the backtest of the quotes that run received.

    The backtest replays the stored session from the run's first in-step quote to its last (located in the
    store by exchange second + bid/ask: IB tick-by-tick carries whole seconds; ``quotes_in_step_with_store``
    says how many of the run's quotes equal the store's, in order). An intent is (position in this common
    quote stream of the quote the decision used, side, quantity, limit price); new limit orders only (not
    the stop's reduce-only closes). ``matched`` = intents present in both runs. An intent present in one run
    only is **latency-excluded** when, at its quote, the two runs' strategy state differed (position or
    number of working orders: a fill, acknowledgment or cancel landed at another quote live than in the
    zero-latency backtest, so the strategy legitimately decided differently); otherwise it is a
    **mismatch**. The state is what the strategy saw at its decision: in the backtest the venue matches a
    quote before the strategy handles it, live the sandbox's fill on that quote arrives after the decision.
    ``pct = matched / (matched + mismatches)``."""
    from workbench.engine import backtest
    from workbench.store import Store

    entry = _entry()
    iid = entry["config"]["instrument_id"]
    live = probe["quotes"]
    with Store.open(str(store_path), read_only=True) as store:
        q = store.read_quotes(iid, as_="pandas")
        ts = q["ts_event"].to_numpy(np.int64)
        sec, bid, ask = ts // 1_000_000_000, q["bid"].to_numpy(float), q["ask"].to_numpy(float)
        found = _align(live, sec, bid, ask)
        if found is None:
            return {"error": "the live quote stream was not found in the store"}
        lo, start = found
        n = min(len(live) - lo, len(q) - start)
        in_step = int(sum(sec[start + i] == live[lo + i][1] and np.isclose(bid[start + i], live[lo + i][2])
                          and np.isclose(ask[start + i], live[lo + i][3]) for i in range(n)))
        res = backtest(entry, {"instrument_ids": [iid], "start": int(ts[start]), "end": int(ts[start + n - 1]) + 1},
                       store=store)
    b_inits, b_events = _backtest_timeline(res, ts, start)
    p_inits = {c: o["q_index"] - lo for c, o in probe["orders"].items()}
    p_events = [(k - lo, kind, c, x) for k, kind, c, x in probe["events"]]
    b_state, p_state = _state_at(b_inits, b_events, n, True), _state_at(p_inits, p_events, n, False)
    bt = Counter()
    for d in res.decisions:
        i = d.intent
        if i.action.value == "NEW" and not i.reduce_only and d.approved and i.price is not None:
            k = int(np.searchsorted(ts, i.ts_event, side="right") - 1 - start)
            if 0 <= k < n:
                bt[(k, i.side.value, float(d.approved_qty), float(i.price))] += 1
    pp = Counter((o["q_index"] - lo, o["side"], o["qty"], o["price"]) for o in probe["orders"].values()
                 if not o["reduce_only"] and o["price"] is not None and 0 <= o["q_index"] - lo < n)
    matched = sum((bt & pp).values())
    only = list((bt - pp).elements()) + list((pp - bt).elements())
    excluded = [x for x in only if b_state[x[0]] != p_state[x[0]]]
    mismatched = [x for x in only if b_state[x[0]] == p_state[x[0]]]
    return {"backtest_intents": sum(bt.values()), "paper_intents": sum(pp.values()), "matched": matched,
            "latency_excluded": len(excluded), "mismatches": len(mismatched), "mismatch_examples": mismatched[:3],
            "quotes_compared": n, "quotes_in_step_with_store": in_step}


def _crash(work: Path) -> dict:
    from workbench.ingest.generator import MarketConfig, generate_market
    from workbench.node.recovery import crash_campaign
    from workbench.store import Store

    market = work / "market.duckdb"
    with Store.open(str(market)) as store:
        generate_market(store, MarketConfig(n_sessions=1))
    entry = _entry()
    entry["config"] = {**entry["config"], "warmup": 30, "order_ttl_quotes": 20}  # orders in flight at each kill
    return crash_campaign(market, work / "crash", entry, CRASH_TRIALS, replay_from=REPLAY_FROM, speed=120.0,
                          seed=12)


def run() -> list[dict]:
    cores = os.cpu_count()
    with tempfile.TemporaryDirectory(prefix="wb-node-bench-") as tmp:
        work = Path(tmp)
        store = work / "dense.duckdb"
        make_store(store)
        runs = {"ours": [], "raw": []}
        for k in range(ROUNDS):
            for arm in ("ours", "raw"):
                runs[arm].append(_arm(arm, work, store, k))
        match = intent_match(runs["ours"][0][1], store)
        crash = _crash(work)

    def keepup(arm):
        out = []
        for _, p in runs[arm]:
            q = p["quotes"][1:]  # the first can be the subscription's snapshot
            if len(q) > 1 and q[-1][0] > q[0][0]:
                out.append((q[-1][1] - q[0][1]) / ((q[-1][0] - q[0][0]) / 1e9) / SPEED)
        return round(float(np.mean(out)), 3) if out else None

    def pooled(arm):
        lat = np.concatenate([_latencies_ms(p) for _, p in runs[arm]])
        quotes = sum(len(p["quotes"]) for _, p in runs[arm])
        wall = sum(p["wall_s"] for _, p in runs[arm])
        cpu = sum(p["cpu_s"] for _, p in runs[arm])
        return lat, quotes / wall if wall > 0 else float("nan"), cpu / quotes if quotes else float("nan")

    lat_o, eps_o, cpu_o = pooled("ours")
    lat_r, eps_r, cpu_r = pooled("raw")
    p99 = lambda a: float(np.percentile(a, 99)) if len(a) else None  # noqa: E731
    p50 = lambda a: float(np.percentile(a, 50)) if len(a) else None  # noqa: E731
    unapproved = sum(1 for _, p in runs["ours"] for o in p["orders"].values()
                     if o["submitted"] is not None and o["approved"] is not True)
    summary_unapproved = [s.get("unapproved_orders") for s, _ in runs["ours"]]
    common = {"cores": cores, "loadavg_1m": round(os.getloadavg()[0], 2), "speed": SPEED, "window_s": WINDOW_S, "runs_per_arm": ROUNDS}
    lines = [
        _metric("node_tick_to_submit_p99_ms", p99(lat_o), "ms", 5.0, False, "raw nautilus node, same simulator",
                p99(lat_r), p50_ms=p50(lat_o), anchor_p50_ms=p50(lat_r), orders=len(lat_o),
                anchor_orders=len(lat_r), **common),
        _metric("node_events_per_s", eps_o, "quotes/s", 5000.0, True, "raw nautilus node, same simulator", eps_r,
                keepup=keepup("ours"), anchor_keepup=keepup("raw"), **common),
        _metric("node_overhead_vs_raw_nautilus", cpu_o / cpu_r if cpu_r > 0 else None, "x (CPU s per quote)", 1.10,
                False, None, None, cpu_us_per_quote=cpu_o * 1e6, anchor_cpu_us_per_quote=cpu_r * 1e6,
                p50_latency_ratio=(p50(lat_o) / p50(lat_r)) if len(lat_o) and len(lat_r) else None, **common),
        _metric("node_unapproved_orders", unapproved, "orders", 0, False, None, None,
                submitted=len(lat_o), summary_unapproved_orders=summary_unapproved),
    ]
    if "error" in match:
        lines.append(_metric("node_backtest_intent_match_pct", None, "%", 99.0, True, **match))
    else:
        denom = match["matched"] + match["mismatches"]
        pct = 100.0 * match["matched"] / denom if denom else None
        lines.append(_metric("node_backtest_intent_match_pct", pct, "%", 99.0, True, "backtest of the same quotes",
                             None, **match))
    crash_info = {k: crash[k] for k in ("trials_killed_while_trading", "open_order_mismatches", "orphan_orders_at_stop", "broker_orders", "final_rc",
                                         "final_errors", "restart_diffs")}
    lines += [
        _metric("node_crash_trials", crash["trials"], "kill -9", 20, True),
        _metric("node_duplicate_orders", crash["duplicate_orders"], "orders", 0, False, **crash_info),
        _metric("node_position_mismatches", crash["position_mismatches"], "restarts", 0, False),
    ]
    return lines


if __name__ == "__main__":
    _child(sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4]))
