"""`kind: chain` CSV mappings: the shipped EOD vendor mapping on real quotes (the iVolatility SPX
sample rewritten in the vendor layout), a surface from the stored chain, the refusals, and the
download time kept beside the session-close stamp."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from workbench.ingest import IngestError, ingest_chain_file, ingest_csv
from workbench.ingest.csvmap import load_mapping
from workbench.store import Store
from workbench.vol import VolSurface

ROOT = Path(__file__).resolve().parents[2]
EOD = ROOT / "config" / "csv_mappings" / "eod_options.yaml"
EOD_HEADER = ("underlying,underlying_last,exchange,optionroot,optionext,type,expiration,quotedate,strike,last,bid,"
              "ask,volume,openinterest,impliedvol,delta,gamma,theta,vega,optionalias")


def _et(ts: str) -> int:
    return int(pd.Timestamp(ts, tz="America/New_York").tz_convert("UTC").value)


def _eod_from_ivolatility(src: Path, dst: Path, day: str) -> pd.DataFrame:
    """One day of the real iVolatility file, written in the EOD vendor layout."""
    iv = pd.read_csv(src, dtype=str, keep_default_na=False)
    iv = iv[iv["date"] == day]
    out = pd.DataFrame({
        "underlying": iv["symbol"], "underlying_last": iv["stock_price_close"], "exchange": "*",
        "optionroot": iv["option_symbol"].str.replace(" ", ""), "optionext": "",
        "type": iv["call/put"].map({"C": "call", "P": "put"}), "expiration": iv["option_expiration"],
        "quotedate": iv["date"], "strike": iv["strike"], "last": iv["mean_price"], "bid": iv["bid"],
        "ask": iv["ask"], "volume": iv["volume"], "openinterest": iv["open_interest"], "impliedvol": iv["iv"],
        "delta": iv["delta"], "gamma": iv["gamma"], "theta": iv["theta"], "vega": iv["vega"], "optionalias": ""})
    assert ",".join(out.columns) == EOD_HEADER
    out.to_csv(dst, index=False)
    return iv


def test_eod_mapping_stores_the_same_chain_as_the_vendor_reader_and_fits_a_surface(real_data, tmp_path, store):
    src = real_data / "optionsuite" / "spx_sample_ivolatility.csv"
    iv = _eod_from_ivolatility(src, tmp_path / "spx_eod_20110103.csv", "01/03/2011")
    summary = ingest_csv(store, tmp_path / "spx_eod_20110103.csv", EOD, quiet=True)
    assert summary.inserted == len(iv)
    snaps = store.chain_snapshots()
    assert snaps[["underlying", "source"]].values.tolist() == [["SPX.XCBO", "eod_options"]]
    assert int(snaps["as_of"].iloc[0]) == _et("2011-01-03 16:00")  # a date-only quote: that session's close
    assert pd.isna(snaps["downloaded_at"].iloc[0])  # the vendor file has no download time
    mapped = store.read_chain("SPX.XCBO", source="eod_options")

    ref = Store.open(":memory:")  # the same quotes through the iVolatility reader
    ingest_chain_file(ref, src)
    vendor = ref.read_chain("SPX.XCBO", as_of=_et("2011-01-03 16:00"))
    ref.close()
    cols = ["instrument_id", "expiry", "strike", "right", "bid", "volume", "open_interest", "iv", "delta"]
    pd.testing.assert_frame_equal(mapped[cols], vendor[cols])
    # ask 0 is "no offer" in the chain mapping (stored NaN), a price in the iVolatility reader
    both = vendor["ask"] > 0
    assert np.array_equal(mapped["ask"][both], vendor["ask"][both]) and mapped["ask"][~both].isna().all()
    assert set(store.instruments(asset_class="OPTION")["multiplier"]) == {100}

    surf = VolSurface.from_store(store, "SPX.XCBO")
    assert len(surf.expiries) >= 5
    T = surf.T[(surf.T > 0.05) & (surf.T < 0.5)]
    atm = np.sqrt(surf.total_variance(0.0, T) / T)
    assert np.all((atm > 0.08) & (atm < 0.4)), atm  # SPX ATM vol in early 2011 was ~15-20 %


def _mapping(tmp_path: Path, **over) -> Path:
    doc = {"kind": "chain", "source": "vendor", "underlying": "SPY",
           "time": {"columns": ["Date", "Time"], "format": "%Y-%m-%d %H:%M", "timezone": "America/New_York"},
           "expiry_format": "%Y%m%d", "rights": {"1": "C", "2": "P"}, "strike_scale": 0.001, "multiplier": 100,
           "fields": {"underlying_price": "Spot", "right": "CP", "expiry": "Exp", "strike": "K", "bid": "Bid",
                      "ask": "Ask", "bid_size": "BidSz", "ask_size": "AskSz"},
           "ignore": ["Greek"]}
    doc.update(over)
    path = tmp_path / "m.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    return path


def _file(tmp_path: Path, rows: list[str], name: str = "spy.csv") -> Path:
    path = tmp_path / name
    path.write_text("\n".join(["Date,Time,Spot,CP,Exp,K,Bid,Ask,BidSz,AskSz,Greek", *rows]) + "\n", encoding="utf-8")
    return path


ROWS = ["2023-12-09,13:49,460.5,1,20231215,460000,2.5,2.6,10,12,x",
        "2023-12-09,13:49,460.5,2,20231215,460000,2.1,0,10,0,x",     # ask 0: bid-only
        "2023-12-09,13:49,460.5,1,20231215,470000,0,0.05,0,5,x"]     # bid 0: offer-only


def test_weekend_download_is_stamped_at_the_friday_close_and_keeps_its_download_time(tmp_path, store):
    ingest_csv(store, _file(tmp_path, ROWS), _mapping(tmp_path), quiet=True)
    snaps = store.chain_snapshots()
    assert int(snaps["as_of"].iloc[0]) == _et("2023-12-08 16:00")
    assert int(snaps["downloaded_at"].iloc[0]) == _et("2023-12-09 13:49")
    chain = store.read_chain("SPY.XNAS")
    assert chain["strike"].tolist() == [460.0, 460.0, 470.0]  # milli-strikes scaled, labels 1/2 mapped
    assert chain["right"].tolist() == ["C", "P", "C"]
    assert chain["ask"].isna().tolist() == [False, True, False] and chain["bid"].tolist() == [2.5, 2.1, 0.0]
    assert store.info()["ranges"]["chain_downloaded"][0].startswith("2023-12-09T18:49")


def test_cboe_download_time_is_kept_as_metadata(store):
    ingest_chain_file(store, ROOT / "tests" / "ingest" / "data" / "cboe_spy_quotedata.csv")
    snaps = store.chain_snapshots()
    assert snaps["downloaded_at"].notna().all()
    assert (snaps["downloaded_at"] >= snaps["as_of"]).all()  # stamped at or before the download


def test_cboe_json_download_time_is_kept_and_a_later_download_of_the_same_snapshot_updates_it(tmp_path, store):
    def download(stamp: str, name: str) -> None:
        doc = {"timestamp": stamp, "data": {"symbol": "_SPX", "current_price": 4697.24, "options": [
            {"option": "SPXW240112C04700000", "bid": 30.5, "ask": 31.2}]}}
        (tmp_path / name).write_text(json.dumps(doc))
        ingest_chain_file(store, tmp_path / name)

    download("2024-01-06 10:52:00", "a.json")  # Saturday: the Friday close's quotes
    download("2024-01-07 09:00:00", "b.json")  # Sunday: the same snapshot again
    download("2024-01-06 08:00:00", "c.json")  # an older download does not move the time back
    snaps = store.chain_snapshots("SPX.XCBO")
    assert snaps["as_of"].tolist() == [_et("2024-01-05 16:00")]
    assert snaps["downloaded_at"].tolist() == [_et("2024-01-07 09:00")]


@pytest.mark.parametrize(("row", "line", "column", "why"), [
    ("2023-12-09,13:49,460.5,1,20231215,470000,2.7,2.6,1,1,x", 3, "Bid", "crossed"),
    ("2023-12-09,13:49,460.5,1,20231215,470000,-1,2.6,1,1,x", 3, "Bid", "negative"),
    ("2023-12-09,13:49,460.5,1,20231215,470000,1,inf,1,1,x", 3, "Ask", "non-finite"),
    ("2023-12-09,13:49,460.5,3,20231215,470000,1,2,1,1,x", 3, "CP", "right must be"),
    ("2023-12-09,13:49,460.5,1,2023-12-15,470000,1,2,1,1,x", 3, "Exp", "expiry does not match"),
    ("2023-12-09,13:49,460.5,1,20231201,470000,1,2,1,1,x", 3, "Exp", "before the quote date"),
    ("2023-12-09,13:49,461.0,1,20231215,470000,1,2,1,1,x", 3, "Spot", "several underlying prices"),
    ("2023-12-09,25:49,460.5,1,20231215,470000,1,2,1,1,x", 3, "Date+Time", "time does not match"),
    ("2023-12-09,13:49,460.5,1,20231215,0,1,2,1,1,x", 3, "K", "strike must be"),
    ("2023-12-09,13:49,460.5,1,20231215,460000,1,2,1,1,x", 3, "instrument_id", "appears twice"),
])
def test_bad_rows_are_refused_naming_line_and_column_and_nothing_is_written(tmp_path, store, row, line, column, why):
    path = _file(tmp_path, [ROWS[0], row])
    with pytest.raises(IngestError) as err:
        ingest_csv(store, path, _mapping(tmp_path), quiet=True)
    msg = err.value.one_line()
    assert why in msg and f"line {line}" in msg and str(path) in msg
    if column != "instrument_id":
        assert f"'{column}'" in msg
    assert store.con.execute("SELECT count(*) FROM chain_snapshots").fetchall()[0][0] == 0
    assert store.con.execute("SELECT count(*) FROM chain_rows").fetchall()[0][0] == 0


def test_date_only_quote_on_a_holiday_is_refused(tmp_path, store):
    mapping = _mapping(tmp_path, time={"columns": ["Date"], "format": "%Y-%m-%d"}, ignore=["Greek", "Time"])
    path = _file(tmp_path, ["2023-12-25,13:49,460.5,1,20231229,460000,2.5,2.6,10,12,x"])
    with pytest.raises(IngestError, match="not a XNYS session"):
        ingest_csv(store, path, mapping, quiet=True)


@pytest.mark.parametrize(("over", "field"), [
    ({"fields": {"underlying_price": "Spot", "right": "CP", "expiry": "Exp", "strike": "K", "bid": "Bid"}},
     "fields"),
    ({"underlying": None}, "underlying"),
    ({"strike_scale": float("nan")}, "strike_scale"),
    ({"rights": {"1": "X"}}, "rights"),
    ({"colour": 1}, "colour"),
])
def test_bad_mappings_are_refused_naming_the_key(tmp_path, over, field):
    doc = yaml.safe_load(_mapping(tmp_path).read_text())
    doc.update(over)
    if over.get("underlying", 1) is None:
        del doc["underlying"]
    with pytest.raises(IngestError) as err:
        load_mapping(doc)
    assert f"'{field}'" in err.value.one_line()


def test_cli_refuses_a_crossed_row_in_one_line(tmp_path):
    path = _file(tmp_path, [ROWS[0], "2023-12-09,13:49,460.5,1,20231215,470000,2.7,2.6,1,1,x"])
    store = tmp_path / "s.duckdb"
    res = subprocess.run([sys.executable, "-m", "workbench.cli.main", "--store", str(store), "ingest", "csv",
                          str(path), "--mapping", str(_mapping(tmp_path)), "--quiet"],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 1
    out = res.stdout + res.stderr  # the csv path tries every file and reports each failure in its summary
    assert "Traceback" not in out and "line 3, field 'Bid': crossed quote" in out
    assert Store.open(store).info()["chain_rows"] == 0


def test_cli_ingests_a_chain_mapping_and_store_info_shows_the_download_time(tmp_path):
    store = tmp_path / "s.duckdb"
    wb = [sys.executable, "-m", "workbench.cli.main", "--store", str(store)]
    res = subprocess.run([*wb, "ingest", "csv", str(_file(tmp_path, ROWS)), "--mapping", str(_mapping(tmp_path)),
                          "--quiet"], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    info = subprocess.run([*wb, "store", "info"], capture_output=True, text=True, timeout=120)
    assert "chain_downloaded   2023-12-09T18:49:00+00:00" in info.stdout
    assert "chain_snapshots    2023-12-08T21:00:00+00:00" in info.stdout


EOD_ROWS = ["SPX,4700.5,*,SPXW240112C04700000,,call,01/12/2024,01/08/2024,4700,30,29.5,30.5,10,100,0.12,0.5,0,0,0,",
            "SPX,4700.5,*,SPXW240112P04700000,,put,01/12/2024,01/08/2024,4700,28,27.5,28.5,10,100,0.12,-0.5,0,0,0,",
            "AAPL,185.2,*,AAPL240119C00185000,,call,01/19/2024,01/08/2024,185,3,2.9,3.1,5,50,0.2,0.5,0,0,0,",
            "SPX,4750.0,*,SPXW240112C04700000,,call,01/12/2024,01/09/2024,4700,60,59.5,60.5,10,100,0.11,0.6,0,0,0,"]


def test_eod_file_with_several_days_and_underlyings_gives_one_snapshot_each(tmp_path, store):
    path = tmp_path / "eod.csv"
    path.write_text("\n".join([EOD_HEADER, *EOD_ROWS]) + "\n", encoding="utf-8")
    assert ingest_csv(store, path, EOD, quiet=True).inserted == 4
    snaps = store.chain_snapshots()
    got = list(zip(snaps["underlying"], snaps["as_of"], snaps["underlying_price"], snaps["n_rows"], strict=True))
    assert got == [("AAPL.XNAS", _et("2024-01-08 16:00"), 185.2, 1), ("SPX.XCBO", _et("2024-01-08 16:00"), 4700.5, 2),
                   ("SPX.XCBO", _et("2024-01-09 16:00"), 4750.0, 1)]
    styles = store.instruments(asset_class="OPTION").set_index("instrument_id")["style"]
    assert styles["AAPL240119C00185000.XNAS"] == "AMERICAN" and styles["SPXW240112C04700000.XCBO"] == "EUROPEAN"


def test_option_symbol_that_disagrees_with_its_row_is_refused(tmp_path, store):
    path = tmp_path / "eod.csv"
    path.write_text("\n".join([EOD_HEADER, EOD_ROWS[0], EOD_ROWS[1].replace("P04700000", "P04750000")]) + "\n",
                    encoding="utf-8")
    with pytest.raises(IngestError, match=r"line 3, field 'optionroot': option symbol 'SPXW240112P04750000'"):
        ingest_csv(store, path, EOD, quiet=True)
    assert store.info()["chain_rows"] == 0
