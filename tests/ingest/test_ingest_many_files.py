"""A multi-file ingest goes on past a bad file (each file its own transaction), reports each outcome
and exits non-zero if any failed; a file of 0 rows writes no ingest_log row claiming success."""

from __future__ import annotations

from workbench.cli.main import main
from workbench.store import Store

HEAD = "t,o,h,l,c,v\n"


def test_bad_file_in_the_middle_does_not_stop_the_others(tmp_path, capsys, bars_mapping):
    m = bars_mapping()
    a, bad, b = tmp_path / "a.csv", tmp_path / "b.csv", tmp_path / "c.csv"
    a.write_text(HEAD + "2024-01-02 14:30:00,10,11,9,10,100\n")
    bad.write_text(HEAD + "2024-01-02 14:31:00,10,inf,9,10,100\n")
    b.write_text(HEAD + "2024-01-02 14:32:00,10,11,9,10,100\n")
    db = str(tmp_path / "s.duckdb")
    assert main(["--store", db, "ingest", "csv", str(a), str(bad), str(b), "--mapping", str(m), "--quiet"]) == 1
    out = capsys.readouterr().out
    assert "2 ingested" in out and "1 failed" in out and f"failed: {bad} line 2, field 'h'" in out
    with Store.open(db) as st:
        assert st.info()["bars"] == 2
        log = st.con.execute("SELECT path FROM ingest_log ORDER BY path").fetchall()
    assert [r[0] for r in log] == [str(a), str(b)]


def test_header_only_file_writes_no_success_row(tmp_path, capsys, bars_mapping):
    m = bars_mapping()
    f = tmp_path / "h.csv"
    f.write_text(HEAD)
    db = str(tmp_path / "s.duckdb")
    assert main(["--store", db, "ingest", "csv", str(f), "--mapping", str(m), "--quiet"]) == 1  # nothing ingested
    out, err = capsys.readouterr()
    assert "1 with 0 rows" in out and f"empty: {f}: 0 rows" in out and "nothing ingested: 0 rows" in err
    with Store.open(db) as st:
        assert st.con.execute("SELECT count(*) FROM ingest_log").fetchall()[0][0] == 0
        assert st.find_instrument("XYZ.XNAS") is None
