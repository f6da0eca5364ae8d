from __future__ import annotations

import json

from workbench.cli.main import main


def test_help_for_every_command(capsys):
    from workbench.cli.main import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    assert {"store", "ingest", "health", "backtest", "demo"} <= set(sub.choices)
    for name, p in sub.choices.items():
        assert p.format_help(), name


def test_demo_then_store_info_and_backtest(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    db = str(tmp_path / "wb.duckdb")
    assert main(["--store", db, "demo", "--out", str(tmp_path / "reports"), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "report:" in out
    html = (tmp_path / "reports" / "demo.html").read_text()
    assert "Backtest: quote mean reversion" in html and "plotly" in html
    assert (tmp_path / "reports" / "demo_tearsheet.html").exists()

    assert main(["--store", db, "store", "info", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["quotes"] > 60_000 and info["chain_snapshots"] == 10 and info["instruments"] > 600

    # the demo again changes nothing (deterministic generator, idempotent store)
    assert main(["--store", db, "demo", "--out", str(tmp_path / "reports"), "--quiet"]) == 0
    capsys.readouterr()
    assert main(["--store", db, "store", "info", "--json"]) == 0
    again = json.loads(capsys.readouterr().out)
    assert {k: v for k, v in again.items() if k != "ingests"} == {k: v for k, v in info.items() if k != "ingests"}

    assert main(["--store", db, "health", "DEMO.XNAS"]) == 0


def test_backtest_command_with_bad_file(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("data: {}\n")
    assert main(["--store", str(tmp_path / "x.duckdb"), "backtest", str(bad)]) == 2
    assert "missing field 'strategies'" in capsys.readouterr().err
