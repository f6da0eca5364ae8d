"""Two real backtests of the demo strategy (nautilus engine, risk gate, journal in DuckDB) compared."""

from __future__ import annotations

import json
import re

import pytest

from workbench.engine import backtest
from workbench.engine.config import VenueSpec
from workbench.reports import compare
from workbench.reports.attribution import run_pnl
from workbench.risk.runlog import run_window

STRATEGY = {"strategy_path": "strategies.quote_reversion:QuoteReversion",
            "config_path": "strategies.quote_reversion:QuoteReversionConfig",
            "config": {"instrument_id": "DEMO.XNAS", "warmup": 100}}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A file store with three journaled backtests on 4,000 seeded quotes: ``a`` and ``a2`` identical,
    ``b`` with a different entry threshold (its decisions diverge)."""
    import numpy as np
    import pandas as pd

    from workbench.store import Instrument, Store

    path = tmp_path_factory.mktemp("cmp") / "wb.duckdb"
    store = Store.open(path)
    store.upsert_instruments([Instrument.equity("DEMO")])
    n, rng = 4_000, np.random.default_rng(11)
    ts = pd.Timestamp("2024-03-04 14:30", tz="UTC").value + np.arange(n, dtype=np.int64) * 1_000_000_000
    mid = np.round(100 + np.cumsum(rng.normal(0, 0.01, n)), 2)
    store.write_quotes("DEMO.XNAS", pd.DataFrame({"ts_event": ts, "bid": mid - 0.01, "ask": mid + 0.01,
                                                  "bid_size": 300.0, "ask_size": 300.0}), source="test")
    b_spec = dict(STRATEGY, config={**STRATEGY["config"], "entry_spreads": 2.0})
    results = {}
    for run_id, spec in (("a", STRATEGY), ("a2", STRATEGY), ("b", b_spec)):
        results[run_id] = backtest(spec, ["DEMO.XNAS"], VenueSpec(), store=store, run_id=run_id)
    store.close()
    yield results, path
    for r in results.values():
        r.close()


@pytest.fixture
def store(runs):
    """The journaled store, opened read-only like `wb report` opens it (one connection at a time)."""
    from workbench.store import Store

    with Store.open(runs[1], read_only=True) as s:
        yield s


def test_same_logic_matches_every_intent(runs, store):
    results, _ = runs
    c = compare("a", "a2", store=store)
    assert c.matched == len(results["a"].decisions) > 20
    assert (c.only_a, c.only_b, c.match_pct) == (0, 0, 100.0)
    assert c.divergence is None
    a = c.attribution()
    assert a["total_diff"] == 0 and a["residual"] == 0
    # the run's stretch of the market: its first quote .. its last, as the store holds them
    first, last = run_window(store, "a")
    q = store.con.execute("SELECT min(ts_event), max(ts_event) FROM quotes WHERE instrument_id = 'DEMO.XNAS'"
                          ).fetchone()
    assert (first, last) == q


def test_diverging_backtests_attribution_adds_up(runs, store):
    results, _ = runs
    c = compare("a", "b", store=store)
    assert c.only_a + c.only_b > 0 and c.matched > 0  # some decisions shared, some not
    assert c.divergence["first_unmatched"]["t_market"] > 0
    a = c.attribution()
    assert a["total_diff"] != 0
    parts = a["fill_gap"] + a["cost_gap"] + a["commissions"] + a["decision_divergence"]
    assert abs(parts - a["total_diff"]) < 1e-9
    # the journal holds what the engine did: every fill, and the same commissions
    for run_id in ("a", "b"):
        r = results[run_id]
        assert len(c.a.fills if run_id == "a" else c.b.fills) == len(r.fills)
        assert c.summary().loc["commissions", "A" if run_id == "a" else "B"] == pytest.approx(
            r.summary()["commissions"])


def test_flat_run_pnl_equals_engine_realised_pnl(runs, store):
    results, _ = runs
    c = compare("a", "b", store=store)
    checked = 0
    for run, r in ((c.a, results["a"]), (c.b, results["b"])):
        f = run.fills
        net = (f["qty"] * f["side"].map({"BUY": 1, "SELL": -1})).sum()
        if net == 0:  # flat at the end: the mark drops out and the P&L is the engine's realised P&L,
            # which nautilus rounds to the cent per position (ours is the exact cash flow)
            assert run_pnl(run, c.marks) == pytest.approx(float(r.pnl), abs=0.01 * len(r.positions) + 1e-9)
            checked += 1
    assert checked


def test_cli_compare_and_runs(runs, tmp_path, capsys):
    from workbench.cli.main import main

    _, path = runs
    run_file = tmp_path / "bt.yaml"  # wb backtest journals every run and prints its id
    run_file.write_text(json.dumps({"strategies": [STRATEGY], "data": {"instrument_ids": ["DEMO.XNAS"]}}))
    assert main(["--store", str(path), "backtest", str(run_file)]) == 0
    cli_run = re.search(r"^run_id: (bt-[0-9a-f]{10})$", capsys.readouterr().out, re.M).group(1)
    assert main(["--store", str(path), "report", "runs"]) == 0
    out = capsys.readouterr().out
    listed = {line.split()[0]: line.split()[1] for line in out.splitlines()[1:]}
    assert {r: "BACKTEST" for r in ("a", "a2", "b", cli_run)}.items() <= listed.items()
    assert main(["--store", str(path), "report", "compare", "a", "b", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "decision_divergence" in out and (tmp_path / "compare_a_vs_b.html").is_file()
    assert main(["--store", str(path), "report", "compare", "a", "nope"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unknown run id 'nope'" in err
