"""The journal's later columns on stores written before them: migrated in place, read either way."""

from __future__ import annotations

from decimal import Decimal

import duckdb

from workbench.reports.runs import load_run
from workbench.risk.journal import Journal
from workbench.risk.schema import RISK_DDL
from workbench.risk.types import OrderIntent, PolicyMode, RiskDecision, StormState, Verdict

OLD_ROW = ("old", 1, "iid1", "RK-iid1", "S-001", "X.XNAS", "NEW", "BUY", 100, 10.0, 100, "", "APPROVE", ["OK"],
           "{}", "{}", 1, "NORMAL", "NORMAL", 5, 0)


def _old_store(path) -> None:
    """risk_decisions exactly as the first journals created it (no match_key / md_* columns)."""
    ddl = RISK_DDL[RISK_DDL.index("CREATE TABLE IF NOT EXISTS risk_decisions"):]
    ddl = ddl[: ddl.index(");") + 2]
    con = duckdb.connect(str(path))
    con.execute(ddl)
    con.execute(f"INSERT INTO risk_decisions VALUES ({', '.join('?' * len(OLD_ROW))})", list(OLD_ROW))
    con.close()


def _decision(seq: int, md) -> RiskDecision:
    i = OrderIntent.new("S-001", "X.XNAS", "BUY", Decimal("100"), Decimal("10.00"), ts_event=seq, seq=seq, market=md)
    return RiskDecision(i, Verdict.APPROVE, ("OK",), {}, {}, i.qty, 1, StormState.NORMAL, PolicyMode.NORMAL, seq, 0)


def test_old_store_reads_read_only_then_migrates_in_place(tmp_path):
    path = tmp_path / "old.duckdb"
    _old_store(path)
    ro = duckdb.connect(str(path), read_only=True)
    run = load_run(ro, "old")  # no match_key column: matched on intent_id
    assert run.decisions["match_key"].tolist() == ["iid1"] and run.mode == "UNKNOWN"
    ro.close()

    con = duckdb.connect(str(path))
    j = Journal(con, "new")  # ensure_schema adds the columns
    j._decisions.extend([_decision(1, (10**9 + 5, 9.99, 10.01)), _decision(2, None)])
    j.flush()
    rows = con.execute("SELECT run_id, match_key, md_ts, md_bid FROM risk_decisions ORDER BY run_id, decision_seq"
                       ).fetchall()
    assert rows[0][0] == "new" and len(rows[0][1]) == 20 and rows[0][2:] == (10**9 + 5, 9.99)
    assert rows[1][2:] == (0, None)  # no quote: NULL, not NaN
    assert rows[2] == ("old", None, None, None)  # the old row survives, its new columns NULL
    assert load_run(con, "old").decisions["match_key"].tolist() == ["iid1"]
    con.close()


def test_match_key_ignores_the_clock_and_decimal_form():
    """Same request on the same quote: one key, whatever the run clock and however the numbers are
    written; another quote second or price: another key."""
    con = duckdb.connect()
    j = Journal(con, "r")

    def key(qty, px, ts_event, md):
        i = OrderIntent.new("S-001", "X.XNAS", "SELL", Decimal(qty), Decimal(px), ts_event=ts_event, seq=ts_event,
                            market=md)
        j._decisions.append(RiskDecision(i, Verdict.APPROVE, ("OK",), {}, {}, i.qty, 1, StormState.NORMAL,
                                         PolicyMode.NORMAL, ts_event, 0))
        j.flush()
        return con.execute("SELECT match_key FROM risk_decisions WHERE decision_seq = ?", [ts_event]).fetchone()[0]

    s = 1_000_000_000
    base = key("100", "10.01", 1, (7 * s + 123, 10.0, 10.02))
    assert key("100.00", "10.010", 2, (7 * s + 999_999, 10.0, 10.02)) == base  # wall clock, ns within the second
    assert key("100", "10.01", 3, (8 * s, 10.0, 10.02)) != base  # next second
    assert key("100", "10.02", 4, (7 * s, 10.0, 10.02)) != base  # another limit
    assert key("100", "10.01", 5, (7 * s, 10.0, 10.03)) != base  # another quote
