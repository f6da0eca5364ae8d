"""Cboe quotedata downloads as users save them: every dev-set file, and each variant on a small
synthetic file (date lines in several locales, a late header, one-sided quotes, big strikes)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from workbench.ingest import IngestError, ingest_chain_file
from workbench.ingest.chain_dates import parse_download_time, session_stamp

DEV = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "real" / "cboe_dev"
DEV_FILES = sorted(p.name for p in DEV.glob("*.csv")) if DEV.is_dir() else ["<cboe_dev missing>"]
HEADER = ("Expiration Date,Calls,Last Sale,Net,Bid,Ask,Volume,IV,Delta,Gamma,Open Interest,Strike,Puts,"
          "Last Sale,Net,Bid,Ask,Volume,IV,Delta,Gamma,Open Interest")


def _et(ts: str) -> int:
    return int(pd.Timestamp(ts, tz="America/New_York").tz_convert("UTC").value)


@pytest.mark.parametrize("name", DEV_FILES)
def test_every_dev_file_ingests_as_downloaded(name, real_data, store):
    path = real_data / "cboe_dev" / name
    rows = [r for r in path.read_text(encoding="utf-8").splitlines()[4:] if r.strip()]
    summary = ingest_chain_file(store, path)
    assert summary.inserted == 2 * len(rows)  # a call and a put per line
    snaps = store.con.execute("SELECT underlying, as_of FROM chain_snapshots").fetchall()
    assert len(snaps) == 1
    stamp = pd.Timestamp(snaps[0][1], tz="UTC").tz_convert("America/New_York")
    # stamped in a session (intraday download) or at a session close, never at a weekend
    assert stamp.dayofweek < 5 and (stamp.hour, stamp.minute) <= (16, 0)


def _write(tmp_path: Path, date_line: str, rows: list[str], *, preamble_extra: int = 0, name: str = "q.csv") -> Path:
    lines = ["", "S&P 500 INDEX,Last: 4604.37,Change:  18.78", f"{date_line},Bid: 0,Ask: 0,Size: 0*0,Volume: 0",
             *(["note,"] * preamble_extra), HEADER, *rows]
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _row(strike: float, cbid: str = "10", cask: str = "11", pbid: str = "9", pask: str = "10") -> str:
    k = f"{int(round(strike * 1000)):08d}"
    return (f"Fri Dec 15 2023,SPXW231215C{k},0,0,{cbid},{cask},0,0,0,0,5,{strike:.2f},"
            f"SPXW231215P{k},0,0,{pbid},{pask},0,0,0,0,7")


@pytest.mark.parametrize(("line", "download_et"), [
    ('"Date: February 5 2022, 8:09 PM EST"', "2022-02-05 20:09"),
    ('"Date: January 9, 2022, 3:11 AM EST"', "2022-01-09 03:11"),
    ('"Date: July 9, 2022 at 5:28 p.m. EDT"', "2022-07-09 17:28"),
    ('"Date: 15 de marzo de 2023, 11:55 GMT-4"', "2023-03-15 11:55"),
    ("Date: 10 novembre 2023 à 18:55 UTC\u22125", "2023-11-10 18:55"),
    ("Date: 9 декабря 2023 г. в 13:49 GMT-5", "2023-12-09 13:49"),
    ("Date: 14 March 2026 at 07:34 GMT-4", "2026-03-14 07:34"),
    ("Date: 15 May 2023, 11:47 AM EDT", "2023-05-15 11:47"),  # re-typed, unquoted: the CSV splits it
])
def test_date_lines_in_any_locale(line, download_et):
    text = line.strip('"')
    assert parse_download_time(text) == pd.Timestamp(download_et, tz="America/New_York").tz_convert("UTC")


@pytest.mark.parametrize("text", ["Date: 03/04/2023 10:00", "Date: sometime", "Date: 31 February 2023 10:00",
                                  "Date: 5 March 2023 25:10"])
def test_ambiguous_or_impossible_dates_refused(text):
    assert parse_download_time(text) is None


def test_session_stamp_after_close_weekend_premarket_intraday():
    def et(ts: str) -> pd.Timestamp:
        return pd.Timestamp(ts, tz="America/New_York").tz_convert("UTC")
    assert session_stamp(et("2023-12-09 13:49")) == et("2023-12-08 16:00")  # Saturday -> Friday close
    assert session_stamp(et("2024-11-11 08:02")) == et("2024-11-08 16:00")  # Monday pre-market
    assert session_stamp(et("2023-02-03 23:24")) == et("2023-02-03 16:00")  # after the close
    assert session_stamp(et("2023-03-15 11:55")) == et("2023-03-15 11:55")  # intraday: as downloaded
    assert session_stamp(et("2023-11-24 15:00")) == et("2023-11-24 13:00")  # early close (after Thanksgiving)


def test_weekend_download_is_stamped_at_friday_close(tmp_path, store):
    path = _write(tmp_path, "Date: 9 декабря 2023 г. в 13:49 GMT-5", [_row(4600)])
    ingest_chain_file(store, path)
    assert store.chain_snapshots("SPX.XCBO")["as_of"].tolist() == [_et("2023-12-08 16:00")]


def test_header_further_down_than_ten_lines(tmp_path, store):
    path = _write(tmp_path, '"Date: December 8, 2023 at 4:30 PM EST"', [_row(4600)], preamble_extra=12)
    assert ingest_chain_file(store, path).inserted == 2


def test_zero_ask_is_one_sided_not_crossed(tmp_path, store):
    path = _write(tmp_path, '"Date: December 8, 2023 at 4:30 PM EST"',
                  [_row(4000, cbid="100", cask="0"), _row(4100, pbid="0", pask="0.05")])
    ingest_chain_file(store, path)
    chain = store.read_chain("SPX.XCBO").set_index("instrument_id")
    stub = chain.loc["SPXW231215C04000000.XCBO"]
    assert stub["bid"] == 100 and pd.isna(stub["ask"])
    assert chain.loc["SPXW231215P04100000.XCBO", ["bid", "ask"]].tolist() == [0, 0.05]


def test_crossed_two_sided_quote_still_refused(tmp_path, store):
    path = _write(tmp_path, '"Date: December 8, 2023 at 4:30 PM EST"', [_row(4000, cbid="12", cask="11")])
    with pytest.raises(IngestError, match=r"line 5.*'Bid'.*crossed"):
        ingest_chain_file(store, path)


def test_strikes_of_any_magnitude(tmp_path, store):
    # DuckDB sized DECIMAL from a sample of the first rows: many 4-digit strikes, then 10,000 crashed
    small = [1000 + i for i in range(1100)]
    path = _write(tmp_path, '"Date: December 8, 2023 at 4:30 PM EST"',
                  [*map(_row, small), _row(10000), _row(25000), _row(99999.5), _row(0.5)])
    ingest_chain_file(store, path)
    strikes = sorted(set(store.read_chain("SPX.XCBO")["strike"].astype(float)))
    assert strikes == [0.5, *small, 10000, 25000, 99999.5]


@pytest.mark.parametrize("bad", ["inf", "-inf", "nan", "1e999"])
def test_non_finite_refused_with_line_and_field(tmp_path, store, bad):
    path = _write(tmp_path, '"Date: December 8, 2023 at 4:30 PM EST"', [_row(4000), _row(4100, pask=bad)])
    with pytest.raises(IngestError, match=r"line 6.*field 'Ask'"):
        ingest_chain_file(store, path)
    assert store.con.execute("SELECT count(*) FROM chain_rows").fetchall()[0][0] == 0


def test_unreadable_date_names_the_field(tmp_path, store):
    path = _write(tmp_path, "Date: 12/08/2023 16:30", [_row(4000)])
    with pytest.raises(IngestError, match="field 'Date'"):
        ingest_chain_file(store, path)


def test_cli_goes_on_past_a_bad_chain_file_and_exits_nonzero(tmp_path, capsys):
    from workbench.cli.main import main
    from workbench.store import Store

    date = '"Date: December 8, 2023 at 4:30 PM EST"'
    good = _write(tmp_path, date, [_row(4000)], name="a.csv")
    bad = _write(tmp_path, date, [_row(4100, pask="inf")], name="b.csv")
    later = _write(tmp_path, date, [_row(4200)], name="c.csv")
    unknown = tmp_path / "d.csv"
    unknown.write_text("not,a,chain\n1,2,3\n")
    db = str(tmp_path / "s.duckdb")
    assert main(["--store", db, "ingest", "chain", str(good), str(bad), str(later), str(unknown), "--quiet"]) == 1
    out = capsys.readouterr().out
    assert "2 ingested" in out and "2 failed" in out, out
    assert f"failed: {bad} line 5, field 'Ask'" in out and f"failed: {unknown}" in out, out
    with Store.open(db) as st:
        assert sorted(st.read_chain("SPX.XCBO")["strike"].astype(float).unique()) == [4000, 4200]
        log = st.con.execute("SELECT path FROM ingest_log ORDER BY path").fetchall()
    assert [r[0] for r in log] == [str(good), str(later)]


def test_unknown_layout_raises_before_anything_is_written(tmp_path, store):
    from workbench.ingest import ingest_chains

    good = _write(tmp_path, '"Date: December 8, 2023 at 4:30 PM EST"', [_row(4000)], name="a.csv")
    unknown = tmp_path / "b.csv"
    unknown.write_text("not,a,chain\n")
    with pytest.raises(IngestError, match="not a known option-chain layout"):
        ingest_chains(store, [good, unknown], quiet=True)
    assert store.con.execute("SELECT count(*) FROM chain_rows").fetchall()[0][0] == 0
