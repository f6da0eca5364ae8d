"""Journal.close: flushes, closes a connection the journal owns (a node run's journal database), only lets
go of one it does not (a backtest's or a replay's store), and is idempotent."""

from __future__ import annotations

from decimal import Decimal

import duckdb
import numpy as np
import pandas as pd
import pytest

from workbench.risk.journal import Journal
from workbench.risk.types import OrderIntent, PolicyMode, RiskDecision, StormState, Verdict
from workbench.store import Instrument, Store

SPEC = {"strategy_path": "strategies.quote_reversion:QuoteReversion",
        "config_path": "strategies.quote_reversion:QuoteReversionConfig",
        "config": {"instrument_id": "DEMO.XNAS", "warmup": 10, "entry_spreads": 1.0}}


def _decision(n: int) -> RiskDecision:
    i = OrderIntent.new("S-001", "X.XNAS", "BUY", Decimal(100), Decimal("100.00"), ts_event=n, seq=n)
    return RiskDecision(i, Verdict.APPROVE, ("OK",), {}, {}, i.qty, 1, StormState.NORMAL, PolicyMode.NORMAL, n, 0)


def _closed(con) -> bool:
    try:
        con.execute("SELECT 1")
    except duckdb.ConnectionException:
        return True
    return False


def test_close_flushes_and_closes_an_owned_connection_once(tmp_path):
    con = duckdb.connect(str(tmp_path / "journal.duckdb"))
    j = Journal(con, "run-1", owns=True)
    j._decisions.append(_decision(1))
    j.close()
    assert _closed(con) and j.con is None and j.store is None
    j.close()  # idempotent
    j.flush()  # a closed journal writes nothing more, and does not fail
    with duckdb.connect(str(tmp_path / "journal.duckdb"), read_only=True) as c:
        assert c.execute("SELECT count(*) FROM risk_decisions WHERE run_id = 'run-1'").fetchone()[0] == 1


def test_close_leaves_a_connection_it_does_not_own_open():
    con = duckdb.connect()
    j = Journal(con, "run-1")
    j.close()
    assert not _closed(con) and j.con is None
    con.close()


@pytest.fixture
def store(tmp_path):
    n, rng = 400, np.random.default_rng(7)
    ts = pd.Timestamp("2024-03-04 14:30", tz="UTC").value + np.arange(n, dtype=np.int64) * 1_000_000_000
    mid = np.round(100 + np.cumsum(rng.normal(0, 0.02, n)), 2)
    with Store.open(tmp_path / "store.duckdb") as s:
        s.upsert_instruments([Instrument.equity("DEMO")])
        s.write_quotes("DEMO.XNAS", pd.DataFrame({"ts_event": ts, "bid": mid - 0.01, "ask": mid + 0.01,
                                                  "bid_size": 300.0, "ask_size": 300.0}), source="test")
        yield s


def _journal_of(strategies) -> Journal:
    (journal,) = {id(s.gate.journal): s.gate.journal for s in strategies if hasattr(s, "gate")}.values()
    return journal


def test_backtest_lets_go_of_the_store_connection(store):
    from workbench.engine import backtest

    result = backtest(SPEC, ["DEMO.XNAS"], store=store, run_id="bt-1")
    journal = _journal_of(result.engine.trader.strategies())
    assert journal.con is None and not _closed(store.con)
    assert store.con.execute("SELECT count(*) FROM risk_runs WHERE run_id = 'bt-1'").fetchone()[0] == 1
    result.close()


def test_replay_stepper_lets_go_of_the_store_connection_at_finish(store):
    from workbench.engine.stepper import Stepper

    st = Stepper(SPEC, ["DEMO.XNAS"], store=store, run_id="replay-1")
    st.finish()
    assert st.journal.con is None and not _closed(store.con)  # the journal no longer holds it
    assert store.con.execute("SELECT count(*) FROM risk_runs WHERE run_id = 'replay-1'").fetchone()[0] == 1


def test_node_risk_close_closes_its_journal_database(tmp_path):
    from workbench.node.config import NodeConfig
    from workbench.node.wiring import NodeRisk

    cfg = NodeConfig(mode="paper", strategies=[SPEC])
    risk = NodeRisk(cfg, "node-1", tmp_path / "journal.duckdb")
    con = risk.journal.con
    risk.close()
    assert _closed(con) and risk.journal.con is None
    risk.close()  # idempotent
