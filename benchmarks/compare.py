"""Compare suite: run comparison reports (workbench/reports, docs/reports.md).

- ``compare_report_s``: ``compare()`` + ``to_html()`` of two journaled runs of 10,000 intents each, read from
  a DuckDB file. The journals are written the way a run writes them (``Journal`` flushing gate decisions,
  ``write_order_events`` with the recorder's rows), from a seeded simulation: 90 % of the decisions shared,
  fills differing in price and quantity, some gate rejects. Anchor: reading the same rows into pandas.
- ``compare_attribution_residual_usd``: |P&L difference - (fill-gap + cost-gap + commissions + divergence)|,
  the worst of the 10,000-intent pair and two real backtests of the demo strategy that diverge. Anchor: the
  P&L difference itself.
- ``compare_backtest_paper_intent_match_pct`` (informative, no goal): a PAPER ``wb node run`` on the embedded
  simulator against a backtest of the same stretch of the market.
- ``compare_paper_real_intent_match_pct``: ``wb node run config/node_pair.yaml`` (PAPER and REAL side by side
  on one embedded simulator session, the broker configured to fill like the sandbox) on the demo market at
  ``PAIR_SPEED`` (30) for ``PAIR_DURATION_S`` (30) wall seconds, then ``compare(paper, real)``; goal 100.
  Counted over all intents, the stop's included: both legs stop on one frozen market instant
  (workbench/node/pair.py); the note splits it into the intents before the stop and those at it, and says
  whether the market had to run on during the exits (a close larger than the displayed size: the pair file's
  ``sim_market_remainder: rest``, ``sim_consume_displayed: false``, ``sim_passive_fill: limit`` make the
  simulator fill it as the sandbox does, the rest left open until the strategy cancels it, so it matches
  too; docs/reports.md, docs/ibsim.md "Filling like the sandbox").
  Beside it (``regular_market_match_pct``): the same pair on a market of one quote a second replayed at 4x,
  where a node's wall-clock latency is far below the quote spacing. Anchor: the same pair with the
  simulator's default broker latency (2 ms ack, 5 ms fill).
"""

from __future__ import annotations

import os
import tempfile
import time
from decimal import Decimal
from pathlib import Path

import numpy as np

from benchmarks.lines import metric
from benchmarks.loopback import node_run

ROOT = Path(__file__).resolve().parents[1]
N = 10_000
S = 1_000_000_000


def _journal(con, run_id: str, rng: np.random.Generator, shared: np.ndarray) -> None:
    """One run of N NEW intents: the ``shared`` decisions (same quote, same request in both runs) plus
    this run's own, each filled fully, partly or not, at a price near the quote; 2 % rejected by the gate."""
    from workbench.risk.journal import Journal
    from workbench.risk.runlog import register_run, write_order_events
    from workbench.risk.types import OrderIntent, PolicyMode, RiskDecision, StormState, Verdict

    register_run(con, run_id, "BACKTEST")
    j = Journal(con, run_id, flush_every=10**9)
    own = rng.integers(10**6, 2 * 10**6, N - len(shared))
    quotes = np.sort(np.concatenate([shared, own]))  # each decision's quote second
    rows, seq = [], 0
    for n, sec in enumerate(quotes, 1):
        mid = 100 + ((int(sec) * 7919) % 400 - 200) / 100  # a deterministic function of the quote
        side = "BUY" if sec % 2 else "SELL"
        bid, ask = round(mid - 0.01, 2), round(mid + 0.01, 2)
        px = bid if side == "BUY" else ask
        i = OrderIntent.new("S-001", "X.XNAS", side, Decimal(100), Decimal(str(px)), ts_event=int(sec) * S,
                            seq=n, market=(int(sec) * S, bid, ask))
        reject = rng.random() < 0.02
        d = RiskDecision(i, Verdict.REJECT if reject else Verdict.APPROVE, ("POSITION_LIMIT",) if reject else ("OK",),
                         {}, {}, None if reject else i.qty, 1, StormState.NORMAL, PolicyMode.NORMAL, n, 0)
        j._decisions.append(d)
        if reject:
            continue
        t = int(sec) * S
        coid = i.client_order_id
        rows.append((seq := seq + 1, coid, "S-001", "X.XNAS", None, "SUBMITTED", t, t + 1000, np.nan, np.nan,
                     np.nan, None, t, bid, ask))
        rows.append((seq := seq + 1, coid, "S-001", "X.XNAS", None, "ACCEPTED", t, t + 50_000, np.nan, np.nan,
                     np.nan, None, t, bid, ask))
        filled = float(rng.choice([0, 40, 100], p=[0.2, 0.1, 0.7]))
        if filled:
            fpx = round(px + rng.choice([-0.01, 0.0, 0.01]), 2)
            tf = t + int(rng.integers(1, 30)) * S
            rows.append((seq := seq + 1, coid, "S-001", "X.XNAS", side, "FILLED", tf, tf, filled, fpx,
                         max(1.0, 0.005 * filled), None, tf, bid, ask))
    j.flush()
    write_order_events(con, run_id, rows)
    from workbench.risk.runlog import finish_run

    finish_run(con, run_id, {"X.XNAS": (2 * 10**6 * S, 99.99, 100.01)})


def _synthetic(path: Path) -> tuple[float, float, float]:
    import duckdb

    from workbench.reports import compare

    rng = np.random.default_rng(13)
    shared = rng.choice(np.arange(10**6, 2 * 10**6), int(N * 0.9), replace=False)
    con = duckdb.connect(str(path))
    _journal(con, "syn-a", np.random.default_rng(1), shared)
    _journal(con, "syn-b", np.random.default_rng(2), shared)
    con.close()

    def read_rows() -> None:  # the anchor: only read both runs' journal rows into pandas
        for table in ("risk_decisions", "risk_order_events", "risk_runs"):
            con.execute(f"SELECT * FROM {table} WHERE run_id IN ('syn-a', 'syn-b')").df()

    def report():
        c = compare("syn-a", "syn-b", store=con)
        c.to_html(path.with_suffix(".html"))
        return c

    # each side on a fresh read-only connection, the order alternating, best of 3: same cache state for both
    times: dict[str, list[float]] = {"anchor": [], "ours": []}
    for r in range(3):
        for side in (("anchor", "ours") if r % 2 == 0 else ("ours", "anchor")):
            con = duckdb.connect(str(path), read_only=True)
            t0 = time.perf_counter()
            out = read_rows() if side == "anchor" else report()
            times[side].append(time.perf_counter() - t0)
            con.close()
            if side == "ours":
                c = out
    took, anchor = min(times["ours"]), min(times["anchor"])
    assert c.matched > 0.8 * N, c  # the simulation shares 90 % of the decisions
    return took, anchor, c.attribution()


def _real_backtests(path: Path):
    import pandas as pd

    from workbench.engine import backtest
    from workbench.engine.config import VenueSpec
    from workbench.reports import compare
    from workbench.store import Instrument, Store

    spec = {"strategy_path": "strategies.quote_reversion:QuoteReversion",
            "config_path": "strategies.quote_reversion:QuoteReversionConfig",
            "config": {"instrument_id": "DEMO.XNAS"}}
    with Store.open(path) as store:
        store.upsert_instruments([Instrument.equity("DEMO")])
        n, rng = 20_000, np.random.default_rng(3)
        ts = pd.Timestamp("2024-03-04 14:30", tz="UTC").value + np.arange(n, dtype=np.int64) * S
        mid = np.round(100 + np.cumsum(rng.normal(0, 0.01, n)), 2)
        store.write_quotes("DEMO.XNAS", pd.DataFrame({"ts_event": ts, "bid": mid - 0.01, "ask": mid + 0.01,
                                                      "bid_size": 300.0, "ask_size": 300.0}), source="bench")
        backtest(spec, ["DEMO.XNAS"], VenueSpec(), store=store, run_id="bt-a").close()
        backtest(spec, ["DEMO.XNAS"], VenueSpec(latency_ms=50.0), store=store, run_id="bt-b").close()
        return compare("bt-a", "bt-b", store=store).attribution()


def _backtest_vs_paper(tmp: Path) -> tuple[float | None, str]:
    """A PAPER node run (its own process, as `wb node run`), then a backtest of the stretch it saw."""
    import pandas as pd

    from workbench.engine import backtest
    from workbench.engine.runconfig import load_run_config
    from workbench.ingest.generator import MarketConfig, generate_market
    from workbench.reports import compare
    from workbench.risk.runlog import run_window
    from workbench.store import Store

    store_path = tmp / "node.duckdb"
    with Store.open(store_path) as store:
        generate_market(store, MarketConfig(n_sessions=1))
    cfg = tmp / "node_paper.yaml"
    cfg.write_text((ROOT / "config/node_paper.yaml").read_text().replace("speed: 10.0", "speed: 120.0"))
    summary, proc = node_run(store_path, cfg, 15, tmp, timeout_s=180, cwd=tmp)
    if not summary or "run_id" not in summary:
        return None, f"node run failed: {proc.stderr.strip()[-300:]}"
    run_id = summary["run_id"]
    run = load_run_config(ROOT / "config/backtest_demo.yaml")
    with Store.open(store_path) as store:
        window = run_window(store, run_id)
        if window is None:
            return None, "node run journaled no quotes"
        data = {"instrument_ids": ["DEMO.XNAS"], "start": pd.Timestamp(window[0], tz="UTC"),
                "end": pd.Timestamp(window[1], tz="UTC")}
        backtest(list(run.strategies), data, run.venue, store=store, run_id="bt-" + run_id).close()
        c = compare("bt-" + run_id, run_id, store=store)
        first = (c.divergence or {}).get("first_unmatched", {}).get("t_market")
        why = f"first divergence at {pd.Timestamp(first, tz='UTC')}" if first else "no divergence"
        return round(c.match_pct, 3), why


def _pair(tmp: Path, store_path: Path, name: str, speed: float, duration_s: float, entry: dict | None = None,
          **sim) -> tuple[float | None, str]:
    """One ``mode: pair`` node run (its own process); the legs' intent match % and the first divergence."""
    import pandas as pd
    import yaml

    from workbench.reports import compare
    from workbench.store import Store

    doc = yaml.safe_load((ROOT / "config/node_pair.yaml").read_text())
    doc.update(speed=speed, runs_dir=str(tmp / "runs"), **sim)
    if entry is not None:
        doc["strategies"] = [entry]
    work = tmp / name
    work.mkdir()
    out, proc = node_run(store_path, doc, duration_s, work, timeout_s=300)
    if not out or "run_ids" not in out or "legs" not in out:
        return None, f"pair run failed: {proc.stderr.strip()[-300:]}"
    ids, legs = out["run_ids"], out["legs"]
    with Store.open(store_path, read_only=True) as store:
        c = compare(ids["paper"], ids["real"], store=store)
    frame = c.to_frame()
    stop = min((s["stop_market_ns"] for s in legs.values() if s.get("stop_market_ns")), default=None)
    at = frame["t_market"] >= stop if stop is not None else frame["t_market"] > frame["t_market"].max()
    ok = frame["status"] == "matched"
    pct = round(c.match_pct, 3) if len(frame) else None
    div = c.divergence or {}
    first = next((div[k] for k in ("first_unmatched", "first_outcome_gap", "first_fill_time_gap") if k in div), None)
    resumed = out.get("stop", {}).get("market_resumed")
    why = (f"all intents: {c.matched} matched, {c.only_a} only PAPER, {c.only_b} only REAL; before the stop "
           f"{int(ok[~at].sum())} of {int((~at).sum())} matched, at the stop {int(ok[at].sum())} of {int(at.sum())}"
           + ("" if resumed is None else
              f" (the market {'ran on' if resumed else 'stood still'} during the exits)")
           + "; " + (f"first divergence ({next(k for k in div)}) at {pd.Timestamp(first['t_market'], tz='UTC')}"
                     if first else "no divergence")
           + (f", stop at {pd.Timestamp(stop, tz='UTC')}" if stop is not None else ""))
    return pct, why


def _paper_real(tmp: Path) -> dict:
    import pandas as pd

    from workbench.ingest.generator import MarketConfig, generate_market
    from workbench.store import Instrument, Store

    speed, duration = float(os.environ.get("PAIR_SPEED", 30)), float(os.environ.get("PAIR_DURATION_S", 30))
    demo = tmp / "pair_demo.duckdb"
    with Store.open(demo) as store:
        generate_market(store, MarketConfig(n_sessions=1))
    pct, why = _pair(tmp, demo, "alike", speed, duration, sim_ack_latency_ms=0.0, sim_fill_latency_ms=0.0)
    anchor, anchor_why = _pair(tmp, demo, "default", speed, duration, sim_ack_latency_ms=2.0,
                               sim_fill_latency_ms=5.0)
    regular = tmp / "pair_regular.duckdb"  # one quote a second (as tests/reports/test_pair_compare.py)
    n, rng = 600, np.random.default_rng(5)
    start = pd.Timestamp("2024-03-04 15:00", tz="UTC")
    ts = (start - pd.Timedelta(seconds=5)).value + np.arange(n, dtype=np.int64) * S
    mid = np.round(100 + np.cumsum(rng.normal(0, 0.02, n)), 2)
    with Store.open(regular) as store:
        store.upsert_instruments([Instrument.equity("DEMO")])
        store.write_quotes("DEMO.XNAS", pd.DataFrame({"ts_event": ts, "bid": mid - 0.01, "ask": mid + 0.01,
                                                      "bid_size": 1000.0, "ask_size": 1000.0}), source="bench")
    import yaml

    entry = yaml.safe_load((ROOT / "config/node_pair.yaml").read_text())["strategies"][0]
    entry["config"].update(warmup=8, ema_alpha=0.3, entry_spreads=1.0, order_ttl_quotes=4)
    reg, reg_why = _pair(tmp, regular, "regular", 4.0, 20.0, entry, sim_ack_latency_ms=0.0, sim_fill_latency_ms=0.0)
    return metric("compare_paper_real_intent_match_pct", pct, "%", "same_pair_default_broker_latency_match_pct",
                   anchor, goal=100.0, higher_is_better=True, speed=speed, duration_s=duration, note=why,
                   anchor_note=anchor_why, regular_market_match_pct=reg, regular_market_note=reg_why)


def run() -> list[dict]:
    out = []
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        took, anchor, syn = _synthetic(tmp / "syn.duckdb")
        out.append(metric("compare_report_s", round(took, 3), "s", "duckdb_fetch_journal_rows_to_pandas_s",
                           round(anchor, 3), goal=2.0, higher_is_better=False, intents_per_side=N))
        real = _real_backtests(tmp / "bt.duckdb")
        worst = max(abs(syn["residual"]), abs(real["residual"]))
        scale = max(abs(syn["total_diff"]), abs(real["total_diff"]))
        out.append(metric("compare_attribution_residual_usd", float(f"{worst:.3e}"), "USD", "abs_total_pnl_diff_usd",
                           round(scale, 2), goal=0.01, higher_is_better=False,
                           synthetic_residual=float(f"{syn['residual']:.3e}"),
                           backtest_pair_residual=float(f"{real['residual']:.3e}")))
        pct, why = _backtest_vs_paper(tmp)
        out.append(metric("compare_backtest_paper_intent_match_pct", pct, "%", "none", None, higher_is_better=True,
                           note=why + "; informative: the backtest venue and nautilus' sandbox fill differently, "
                                      "so positions and then decisions part"))
        out.append(_paper_real(tmp))
    return out
