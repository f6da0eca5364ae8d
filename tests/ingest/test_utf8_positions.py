"""Undecodable text is located the same way by every reader: 1-based line, 1-based byte in that line.

Before, the mapping loader gave a 0-based offset into a decoder chunk with no line, a CSV header a
1-based byte without saying "of the line", and the Cboe JSON reader the codec's 0-based position.
"""

from __future__ import annotations

import pytest

from workbench.ingest import IngestError, ingest_csv, load_mapping
from workbench.ingest.chains import ingest_chains
from workbench.ingest.errors import not_utf8
from workbench.store import Store


def _decode_error(data: bytes) -> UnicodeDecodeError:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc
    raise AssertionError("decoded")


@pytest.mark.parametrize(("data", "line", "byte"), [
    (b"\xff", 1, 1),
    (b"ab\xff", 1, 3),
    (b"ab\ncd\n\xffx", 3, 1),
    (b"ab\ncd\nxyz\xe9!", 3, 4),
])
def test_line_and_byte_are_one_based(data, line, byte):
    err = not_utf8("f.csv", _decode_error(data), member="m.csv")
    assert (err.row, err.member) == (line, "m.csv")
    assert str(err) == f"f.csv[m.csv] line {line}: not UTF-8 text (byte {byte} of the line)"
    shifted = not_utf8("f.csv", _decode_error(data), first_line=10)  # a decoded part starting at line 10
    assert shifted.row == line + 9


def test_mapping_yaml(tmp_path):
    m = tmp_path / "m.yaml"
    m.write_bytes(b"kind: bars\ninstrument: \xff\xfe\n")  # "instrument: " is 12 bytes
    with pytest.raises(IngestError) as err:
        load_mapping(m)
    assert err.value.row == 2 and "not UTF-8 text (byte 13 of the line)" in str(err.value)


@pytest.mark.parametrize(("content", "row", "words"), [
    (b"t,o,h,l,c,v,n\xf6te\n2024-01-02 14:30:00,10,11,9,10,100,x\n", 1, "header is not UTF-8 text (byte 14 of the line)"),
    (b"t,o,h,l,c,v,note\n2024-01-02 14:30:00,10,11,9,10,1\xff0,x\n", 2, "not UTF-8 text (byte 33 of the line)"),
])
def test_csv_header_and_data_line(tmp_path, bars_mapping, content, row, words):
    f = tmp_path / "x.csv"
    f.write_bytes(content)
    with pytest.raises(IngestError) as err:
        ingest_csv(Store.open(":memory:"), f, bars_mapping("ignore: [note]\n"), quiet=True)
    assert err.value.row == row and words in str(err.value)


def test_cboe_json(tmp_path):
    f = tmp_path / "SPY_quotedata.json"
    f.write_bytes(b'{"data": {\n  "options": ["\xff"]}}')  # line 2: two spaces, '"options": ["' = 13
    with pytest.raises(IngestError) as err:
        ingest_chains(Store.open(":memory:"), [f], "cboe_json", quiet=True)
    assert err.value.row == 2 and "not UTF-8 text (byte 16 of the line)" in str(err.value)
