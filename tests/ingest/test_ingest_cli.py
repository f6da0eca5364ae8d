"""`wb ingest ...` end to end on a store file: idempotent counts, chain and csv, exit codes."""

from __future__ import annotations

import json
from pathlib import Path

from workbench.cli.main import main

REPO = Path(__file__).resolve().parents[2]


def _info(db: str, capsys) -> dict:
    capsys.readouterr()
    assert main(["--store", db, "store", "info", "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_ingest_lean_twice_leaves_the_same_counts(tmp_path, real_data, capsys):
    db = str(tmp_path / "wb.duckdb")
    spy = str(real_data / "lean/equity/usa/minute/spy")
    assert main(["--store", db, "ingest", "lean", spy, "--quiet"]) == 0
    first = _info(db, capsys)
    assert main(["--store", db, "ingest", "lean", spy, "--quiet"]) == 0
    assert "12 skipped" in capsys.readouterr().out
    assert _info(db, capsys) == first
    assert first["bars"] > 15_000 and first["quotes"] > 5_000


def test_ingest_chain_and_csv(tmp_path, real_data, capsys):
    db = str(tmp_path / "wb.duckdb")
    assert main(["--store", db, "ingest", "chain", str(Path(__file__).parent / "data/cboe_spy_quotedata.csv"),
                 "--quiet"]) == 0
    assert main(["--store", db, "ingest", "csv", str(real_data / "pyalgotrade/nt-spy-minute-2011.csv"),
                 "--mapping", str(REPO / "config/csv_mappings/nt-spy-minute.yaml"), "--quiet"]) == 0
    info = _info(db, capsys)
    assert info["chain_rows"] == 12 and info["bars"] == 14180


def test_bad_file_exits_1_with_the_location(tmp_path, capsys):
    db = str(tmp_path / "wb.duckdb")
    bad = tmp_path / "chain.csv"
    bad.write_text("not,a,chain\n1,2,3\n")
    assert main(["--store", db, "ingest", "chain", str(bad), "--quiet"]) == 1
    assert f"failed: {bad}: not a known option-chain layout" in capsys.readouterr().out  # the summary's list
    assert main(["--store", db, "ingest"]) == 2
