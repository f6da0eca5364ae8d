"""`wb risk|strategy|orders ...` against a store file."""

from pathlib import Path

import yaml

from workbench.cli.main import main
from workbench.risk.control import control_state, sync_controls
from workbench.risk.journal import Journal
from workbench.store import Store

REPO = Path(__file__).resolve().parents[2]


def test_config_lifecycle_and_kill_switch_commands(tmp_path, capsys, rk):
    db = str(tmp_path / "wb.duckdb")
    cfg = REPO / "config" / "risk.yaml"
    assert main(["--store", db, "risk", "config", "apply", str(cfg), "--reason", "init", "--by", "ops"]) == 0
    assert "applied v1" in capsys.readouterr().out
    changed = tmp_path / "risk.yaml"
    data = yaml.safe_load(cfg.read_text())
    data["defaults"]["price_band_bps"] = 35
    changed.write_text(yaml.safe_dump(data))
    assert main(["--store", db, "risk", "config", "diff", str(changed)]) == 0
    assert "price_band_bps: 35" in capsys.readouterr().out
    assert (
        main(["--store", db, "risk", "config", "apply", str(changed), "--reason", "tighter", "--by", "ops"])
        == 0
    )
    assert main(["--store", db, "risk", "config", "rollback", "1", "--reason", "undo", "--by", "ops"]) == 0
    assert main(["--store", db, "risk", "config", "rollback", "9", "--reason", "nope", "--by", "ops"]) == 1
    data["stormguard"]["halt_pct"] = 2
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(data))
    assert main(["--store", db, "risk", "config", "apply", str(bad), "--reason", "bad", "--by", "ops"]) == 1
    capsys.readouterr()
    assert main(["--store", db, "risk", "config", "history"]) == 0
    out = capsys.readouterr().out
    assert "rollback:v1" in out and out.count("ops") == 3

    assert main(["--store", db, "risk", "halt", "--reason", "fat finger", "--by", "ops"]) == 0
    assert main(["--store", db, "strategy", "disable", "MM-002", "--reason", "review", "--by", "ops"]) == 0
    capsys.readouterr()
    assert main(["--store", db, "risk", "state"]) == 0
    out = capsys.readouterr().out
    assert "config: v3" in out and "GLOBAL (fat finger)" in out and "MM-002" in out
    # a running gate picks the commands up
    with Store.open(db) as store:
        g = rk.make_gate()
        last = sync_controls(g, store)
        assert last == 2 and g.global_guard.state.name == "HALT"
        assert g.evaluate(rk.intent(strategy="LT-001")).reasons[0] == "KILL_SWITCH"
    assert main(["--store", db, "risk", "reset", "--reason", "cleared", "--by", "ops"]) == 0
    with Store.open(db) as store:
        assert control_state(store)["halted"] == {} and sync_controls(g, store, last) == 3
    assert g.global_guard.state.name == "NORMAL"


def test_orders_dump_reads_the_journal(tmp_path, capsys, rk):
    db = str(tmp_path / "wb.duckdb")
    with Store.open(db) as store:
        j = Journal(store, run_id="bt-7")
        g = rk.make_gate(journal=j)
        d = g.evaluate(rk.intent(qty=20, price="100.02"))
        g.on_fill("T9", d.client_order_id, rk.T0, 20, 100.01)
        g.evaluate(rk.intent(price="150.00", seq=2))  # rejected: not an order
        j.flush()
    assert main(["--store", db, "orders", "dump", "--csv"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2 and d.client_order_id in lines[1] and ",20" in lines[1]


def test_scenarios_command_prints_pass_lines(capsys):
    assert main(["risk", "scenarios", "--mode", "both", "-k", "duplicate"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 2 and all(line.startswith("PASS") for line in out)


def test_scenarios_command_exits_nonzero_on_a_failure(capsys, monkeypatch):
    import dataclasses

    import workbench.risk.scenario as sc

    a = next(s for s in sc.all_scenarios() if s.name.startswith("A:"))
    broken = dataclasses.replace(
        a, name="broken A", steps=a.steps[:-1] + ({**a.steps[-1], "expect": {"policy_mode": "SOFT_DERISK"}},)
    )
    monkeypatch.setattr(sc, "all_scenarios", lambda: [a, broken])
    assert main(["risk", "scenarios", "--mode", "pure"]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("PASS") and out[1].startswith("FAIL") and "broken A" in out[1]


def test_unknown_scope_strategy_or_version_is_a_one_line_error(tmp_path, capsys):
    db = str(tmp_path / "wb.duckdb")
    cfg = REPO / "config" / "risk.yaml"
    assert main(["--store", db, "risk", "config", "apply", str(cfg), "--reason", "init", "--by", "ops"]) == 0
    capsys.readouterr()
    for argv in (
        ["risk", "halt", "--scope", "NOPE-1", "--reason", "x", "--by", "ops"],
        ["risk", "reset", "--scope", "NOPE-1", "--reason", "x", "--by", "ops"],
        ["strategy", "disable", "NOPE-1", "--reason", "x", "--by", "ops"],
        ["risk", "config", "diff", "99"],
    ):
        assert main(["--store", db, *argv]) == 2, argv
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and ("NOPE-1" in err or "99" in err), err
    with Store.open(db) as store:
        assert store.con.execute("SELECT count(*) FROM risk_control").fetchone()[0] == 0
