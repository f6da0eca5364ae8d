"""`wb sweep` input errors: one line naming the file and field, exit 2, no traceback, nothing stored."""

from __future__ import annotations

from pathlib import Path

import pytest

from workbench.cli.main import main

REPO = Path(__file__).resolve().parents[2]
BASE = REPO / "config" / "backtest_demo.yaml"


@pytest.mark.parametrize("text, expect", [
    ("grid: {entry_spreads: [2.0]}\n", "missing field strategies (or base)"),
    (f"base: {BASE}\ngrid: {{entry_spread: [2.0]}}\n", "grid.entry_spread: QuoteReversionConfig has no field"),
    (f"base: {BASE}\ngrid: {{entry_spreads: []}}\n", "grid.entry_spreads: no values"),
    (f"base: {BASE}\ngrid: {{entry_spreads: [2.0]}}\nobjective: luck\n", "objective: 'luck' is not a metric"),
    (f"base: {BASE}\ngrid: {{entry_spreads: [2.0]}}\nwalk_forward: {{train: 0, test: 1}}\n", "walk_forward.train"),
    (f"base: {BASE}\ngrid: {{entry_spreads: [2.0]}}\nwalkforward: {{}}\n", "unknown field(s) walkforward"),
    ("base: nowhere.yaml\ngrid: {entry_spreads: [2.0]}\n", "base:"),
    ("grid: [1, 2\n", "cannot read"),
    (f"base: {BASE}\ngrid: {{entry_spreads: [2.0]}}\ndata: {{start: 2024-03-04}}\n", "data:"),
])
def test_bad_sweep_file_is_one_line(tmp_path, capsys, text, expect):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(text)
    db = tmp_path / "wb.duckdb"
    rc = main(["--store", str(db), "sweep", str(cfg), "--serial", "--quiet"])
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert rc == 2 and len(lines) == 1 and "Traceback" not in err, err
    assert str(cfg) in lines[0] and expect in lines[0], lines[0]


def test_missing_sweep_file(tmp_path, capsys):
    rc = main(["sweep", str(tmp_path / "none.yaml")])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1 and "none.yaml" in err and "cannot read" in err


def test_read_only_store_is_refused_before_any_run(tmp_path, capsys):
    from tests.sweep.conftest import ENTRY, HOUR
    from workbench.store import Store
    from workbench.sweep import Sweep, SweepError

    db = tmp_path / "wb.duckdb"
    Store.open(db).close()
    with Store.open(db, read_only=True) as ro:
        with pytest.raises(SweepError, match="read-only"):
            Sweep(ENTRY, {"entry_spreads": [2.0]}, HOUR, store=ro, cache=str(tmp_path)).run("serial")
