"""Bad input: a clear IngestError naming file, member, line and field - and nothing written."""

from __future__ import annotations

import pytest

from workbench.ingest import IngestError, ingest_chain_file, ingest_csv, ingest_lean

SPY_TRADE = "equity/usa/minute/spy/20131007_trade.zip"


def _replace_line(data: bytes, line: int, new: bytes) -> bytes:
    lines = data.split(b"\n")
    lines[line - 1] = new
    return b"\n".join(lines)


def _edit_field(data: bytes, line: int, field: int, value: bytes) -> bytes:
    fields = data.split(b"\n")[line - 1].split(b",")
    fields[field] = value
    return _replace_line(data, line, b",".join(fields))


@pytest.mark.parametrize(("edit", "row", "field", "words"), [
    (lambda d: _replace_line(d, 7, b"14760000,1674100,1674100"), 7, None, "expected 6 fields"),
    (lambda d: _edit_field(d, 12, 4, b"16x7"), 12, "close", "not a number"),
    (lambda d: _edit_field(d, 20, 3, b"-1672500"), 20, "low", "negative price"),
    (lambda d: _edit_field(d, 30, 0, b"14400000"), 30, "time", "not after the previous row"),
    (lambda d: _edit_field(d, 3, 5, b""), 3, "volume", "volume missing"),
])
def test_bad_minute_rows_are_located(store, lean, rezip, edit, row, field, words):
    path = rezip(lean / SPY_TRADE, SPY_TRADE, edit=lambda name, data: edit(data))
    before = store.info()
    with pytest.raises(IngestError) as err:
        ingest_lean(store, path, quiet=True)
    exc = err.value
    assert (exc.file, exc.member, exc.row, exc.field) == (str(path), "20131007_spy_minute_trade.csv", row, field)
    assert words in str(exc) and f"line {row}" in str(exc)
    assert store.info() == before  # nothing half-written, not even the instrument or a log row


def test_error_in_one_of_many_members_names_that_member(store, lean, rezip):
    """Option zips are parsed as one table; the error still points into the right member."""
    bad = "20151223_goog_minute_quote_american_call_7000000_20151224.csv"
    rel = "option/usa/minute/goog/20151223_quote_american.zip"
    path = rezip(lean / rel, rel, edit=lambda name, data: _edit_field(data, 4, 4, b"") if name == bad else data)
    before = store.info()
    with pytest.raises(IngestError) as err:
        ingest_lean(store, path, quiet=True)
    assert (err.value.member, err.value.row, err.value.field) == (bad, 4, "bid_close")
    assert "partly empty" in str(err.value)
    assert store.info() == before


def test_failing_member_rolls_back_the_members_before_it(store, lean, rezip):
    rel = "future/cme/minute/es/20131007_trade.zip"
    last = "20131007_es_minute_trade_201406.csv"
    path = rezip(lean / rel, rel, edit=lambda name, data: data + b"\n5,1,1,1,1,1" if name == last else data)
    ingest_lean(store, lean / "equity/usa/minute/spy/20131004_trade.zip", quiet=True)
    before = store.info()
    with pytest.raises(IngestError) as err:
        ingest_lean(store, path, quiet=True)
    assert err.value.member == last and err.value.field == "time"
    assert store.info() == before and store.find_instrument("ESZ13.XCME") is None


def test_unknown_futures_root(store, lean, rezip):
    rel = "future/cme/minute/zz/20131007_trade.zip"
    src = lean / "future/cme/minute/es/20131007_trade.zip"
    path = rezip(src, rel, keep=lambda n: n.endswith("201312.csv"))
    import zipfile

    renamed = path.with_name("x.zip")
    with zipfile.ZipFile(path) as zin, zipfile.ZipFile(renamed, "w") as zout:
        for n in zin.namelist():
            zout.writestr(n.replace("_es_", "_zz_"), zin.read(n))
    renamed.replace(path)
    with pytest.raises(IngestError, match="unknown futures root 'ZZ'") as err:
        ingest_lean(store, path, quiet=True)
    assert err.value.field == "symbol"


def test_not_a_lean_file(store, tmp_path):
    stray = tmp_path / "notes.txt"
    stray.write_text("hello")
    with pytest.raises(IngestError, match="not a Lean data file"):
        ingest_lean(store, stray, quiet=True)
    with pytest.raises(IngestError, match="no such file"):
        ingest_lean(store, tmp_path / "missing.zip", quiet=True)


def test_ivolatility_crossed_quote_and_unknown_column(store, real_data, tmp_path):
    lines = (real_data / "optionsuite/spx_sample_ivolatility.csv").read_text().splitlines()
    fields = lines[5].split(",")
    fields[10], fields[11] = "1.00", "2.00"  # ask, bid -> crossed
    crossed = tmp_path / "crossed.csv"
    crossed.write_text("\n".join([*lines[:5], ",".join(fields), *lines[6:50]]) + "\n")
    with pytest.raises(IngestError) as err:
        ingest_chain_file(store, crossed)
    assert (err.value.row, err.value.field) == (6, "bid") and "crossed" in str(err.value)
    extra = tmp_path / "extra.csv"
    extra.write_text("\n".join([lines[0] + ",vendor_note", *(line + ",x" for line in lines[1:20])]) + "\n")
    with pytest.raises(IngestError, match="unknown column") as err:
        ingest_chain_file(store, extra, fmt="ivolatility")
    assert err.value.field == "vendor_note"
    assert store.info()["chain_rows"] == 0


def test_cboe_short_row(store, tmp_path):
    sample = (tmp_path / "q.csv")
    text = open(__file__.replace("test_ingest_errors.py", "data/cboe_spy_quotedata.csv")).read().splitlines()
    text[6] = ",".join(text[6].split(",")[:15])
    sample.write_text("\n".join(text) + "\n")
    with pytest.raises(IngestError, match="expected 22 fields") as err:
        ingest_chain_file(store, sample)
    assert err.value.row == 7


def test_csv_mapping_errors(store, real_data, tmp_path):
    src = real_data / "pyalgotrade/ib-spy-5min-20120627.csv"
    mapping = {"kind": "bars", "instrument": "SPY.XNAS", "bar_size": "5min",
               "time": {"columns": ["Date"], "format": "%Y%m%d  %H:%M:%S", "timezone": "Europe/Berlin"},
               "fields": {"open": "Open", "high": "High", "low": "Low", "close": "Close", "volume": "Volume"},
               "ignore": ["TradeCount", "WAP"]}
    with pytest.raises(IngestError, match="unknown instrument 'SPY.XNAS'") as err:
        ingest_csv(store, src, mapping, quiet=True)
    assert err.value.field == "instrument"
    mapping["asset_class"] = "EQUITY"
    with pytest.raises(IngestError, match="unknown column") as err:
        ingest_csv(store, src, mapping, quiet=True)
    assert (err.value.row, err.value.field) == (1, "HasGaps")
    mapping["ignore"].append("HasGaps")
    lines = src.read_text().splitlines()
    lines[9] = lines[9].replace("20120627  ", "2012-06-27 ")
    bad = tmp_path / "bad.csv"
    bad.write_text("\n".join(lines) + "\n")
    with pytest.raises(IngestError, match="does not match format") as err:
        ingest_csv(store, bad, mapping, quiet=True)
    assert (err.value.row, err.value.field) == (10, "Date")
    with pytest.raises(IngestError, match="unknown key") as err:
        ingest_csv(store, src, {**mapping, "colums": ["x"]}, quiet=True)
    assert store.info()["bars"] == 0


def test_csv_crossed_quotes_are_an_error(store, tmp_path):
    f = tmp_path / "q.csv"
    f.write_text("t,b,a,bs,as\n2024-01-02 14:30:00,10.0,10.1,5,5\n2024-01-02 14:30:01,10.2,10.1,5,5\n")
    mapping = {"kind": "quotes", "instrument": "XYZ.XNAS", "asset_class": "EQUITY",
               "time": {"columns": ["t"], "format": "%Y-%m-%d %H:%M:%S"},
               "fields": {"bid": "b", "ask": "a", "bid_size": "bs", "ask_size": "as"}}
    with pytest.raises(IngestError, match="crossed") as err:
        ingest_csv(store, f, mapping, quiet=True)
    assert (err.value.row, err.value.field) == (3, "b")
    assert store.find_instrument("XYZ.XNAS") is None  # the batch rolled the new instrument back too
