"""Numbers that are not prices (inf, zero, negative, high < low, open/close outside the bar) are
refused at ingest on every path, naming file/line/field, and nothing is written."""

from __future__ import annotations

import pytest

from workbench.ingest import IngestError, ingest_csv, ingest_lean

SPY_TRADE = "equity/usa/minute/spy/20131007_trade.zip"
BARS = {"kind": "bars", "instrument": "XYZ.XNAS", "asset_class": "EQUITY", "bar_size": "1min",
        "time": {"columns": ["t"], "format": "%Y-%m-%d %H:%M:%S"},
        "fields": {"open": "o", "high": "h", "low": "l", "close": "c", "volume": "v"}}
QUOTES = {"kind": "quotes", "instrument": "XYZ.XNAS", "asset_class": "EQUITY",
          "time": {"columns": ["t"], "format": "%Y-%m-%d %H:%M:%S"},
          "fields": {"bid": "b", "ask": "a", "bid_size": "bs", "ask_size": "as"}}


@pytest.mark.parametrize(("row", "field", "words"), [
    ("10,inf,9,10,100", "h", "non-finite price"),
    ("10,-inf,9,10,100", "h", "non-finite price"),
    ("10,1e400,9,10,100", "h", "non-finite price"),
    ("0,11,0,10,100", "o", "zero price"),
    ("10,9,11,10,100", "h", "high below low"),
    ("12,11,9,10,100", "o", "open outside [low, high]"),
    ("10,11,9,8,100", "c", "close outside [low, high]"),
    ("10,11,9,10,inf", "v", "non-finite"),
])
def test_csv_bar_that_is_not_a_price(store, tmp_path, row, field, words):
    f = tmp_path / "bars.csv"
    f.write_text(f"t,o,h,l,c,v\n2024-01-02 14:30:00,10,11,9,10,100\n2024-01-02 14:31:00,{row}\n")
    with pytest.raises(IngestError) as err:
        ingest_csv(store, f, BARS, quiet=True)
    assert (err.value.file, err.value.row, err.value.field) == (str(f), 3, field)
    assert words in str(err.value)
    assert store.info()["bars"] == 0 and store.find_instrument("XYZ.XNAS") is None


@pytest.mark.parametrize(("row", "field"), [("10.0,inf,5,5", "a"), ("0,10.1,5,5", "b")])
def test_csv_quote_that_is_not_a_price(store, tmp_path, row, field):
    f = tmp_path / "q.csv"
    f.write_text(f"t,b,a,bs,as\n2024-01-02 14:30:00,10.0,10.1,5,5\n2024-01-02 14:30:01,{row}\n")
    with pytest.raises(IngestError) as err:
        ingest_csv(store, f, QUOTES, quiet=True)
    assert (err.value.row, err.value.field) == (3, field)
    assert store.find_instrument("XYZ.XNAS") is None


def _edit_field(data: bytes, line: int, field: int, value: bytes) -> bytes:
    lines = data.split(b"\n")
    fields = lines[line - 1].split(b",")
    fields[field] = value
    lines[line - 1] = b",".join(fields)
    return b"\n".join(lines)


@pytest.mark.parametrize(("field", "value", "name", "words"), [
    (2, b"1e400", "high", "non-finite price"),
    (2, b"inf", "high", "non-finite price"),
    (3, b"0", "low", "zero price"),
    (2, b"1", "high", "high below low"),
])
def test_lean_bar_that_is_not_a_price(store, lean, rezip, field, value, name, words):
    path = rezip(lean / SPY_TRADE, SPY_TRADE, edit=lambda _n, d: _edit_field(d, 15, field, value))
    before = store.info()
    with pytest.raises(IngestError) as err:
        ingest_lean(store, path, quiet=True)
    assert (err.value.row, err.value.field) == (15, name)
    assert words in str(err.value)
    assert store.info() == before


@pytest.mark.parametrize(("text", "words", "row"), [
    (b"kind: bars\nfields: {open: o\ntime: [\n", "malformed YAML", 3),
    (b"kind: bars\ninstrument: \xff\xfe\n", "not UTF-8", 2),
])
def test_bad_mapping_file_is_one_line(tmp_path, capsys, text, words, row):
    from workbench.cli.main import main
    from workbench.ingest import load_mapping

    m = tmp_path / "m.yaml"
    m.write_bytes(text)
    with pytest.raises(IngestError) as err:
        load_mapping(m)
    assert (err.value.file, err.value.row) == (str(m), row) and words in str(err.value)
    f = tmp_path / "x.csv"
    f.write_text("t,o\n")
    assert main(["--store", str(tmp_path / "s.duckdb"), "ingest", "csv", str(f), "--mapping", str(m)]) != 0
    out = capsys.readouterr()
    assert words in out.err and len(out.err.strip().splitlines()) == 1
