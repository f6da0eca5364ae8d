"""Bad dates are one line before anything is dialled; a closed stdout pipe ends quietly."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from workbench.cli.main import main


@pytest.mark.parametrize(("start", "end", "words"), [
    ("2013-13-01", "2013-10-09", "--from: not a date: '2013-13-01'"),
    ("2013-10-01", "tomorrow-ish", "--to: not a date: 'tomorrow-ish'"),
    ("2013-10-09", "2013-10-01", "--from 2013-10-09 is after --to 2013-10-01"),
])
def test_ib_backfill_bad_dates_are_one_line_before_connecting(tmp_path, capsys, start, end, words):
    # port 1: nothing listens there, so reaching the connect would say "cannot connect" instead
    rc = main(["--store", str(tmp_path / "s.duckdb"), "ib", "backfill", "SPY", "--from", start, "--to", end,
               "--port", "1"])
    err = capsys.readouterr().err
    assert rc == 2 and len(err.strip().splitlines()) == 1 and words in err and "connect" not in err, err
    assert not (tmp_path / "s.duckdb").exists()


def test_store_info_into_a_closed_pipe_exits_quietly(tmp_path):
    """`wb store info | head -1`: the reader is gone before wb writes; no BrokenPipeError trace."""
    db = tmp_path / "s.duckdb"
    from workbench.store import Store

    Store.open(str(db)).close()
    r, w = os.pipe()
    os.close(r)
    try:
        p = subprocess.run([sys.executable, "-m", "workbench.cli.main", "--store", str(db), "store", "info"],
                           stdout=w, stderr=subprocess.PIPE, text=True, timeout=120)
    finally:
        os.close(w)
    assert p.stderr == "" and p.returncode == 141
