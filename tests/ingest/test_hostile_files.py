"""Hostile and broken input files: each is one located line, exit != 0, nothing written, bounded memory."""

from __future__ import annotations

import io
import random
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from workbench.cli.main import main
from workbench.ingest import IngestError, ingest_csv, ingest_lean
from workbench.ingest.limits import IngestLimits, LineScan
from workbench.store import Store

SPY = "equity/usa/minute/spy/20131007_trade.zip"
IGNORE_NOTE = "ignore: [note]\n"  # the extra column of HEAD
HEAD = "t,o,h,l,c,v,note\n"


def _zip(path: Path, members: dict[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", method) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def _spy_zip(tmp_path: Path, lean: Path, members: dict[str, bytes] | None = None, **kw) -> Path:
    if members is None:
        with zipfile.ZipFile(lean / SPY) as zf:
            members = {n: zf.read(n) for n in zf.namelist()}
    return _zip(tmp_path / "lean" / SPY, members, **kw)


@pytest.mark.parametrize("cut", [1, 7, 64, 1000])
def test_line_scan_names_the_first_overlong_line_across_block_boundaries(cut):
    rng = random.Random(cut)
    lines = [b"x" * rng.randrange(0, 90) for _ in range(300)]
    lines[211] = b"y" * 101  # the first line over the cap of 100
    lines[250] = b"z" * 500
    data = b"\n".join(lines) + b"\n"
    scan = LineScan("f.csv", limits=IngestLimits(max_line_bytes=100))
    with pytest.raises(IngestError) as err:
        for i in range(0, len(data), cut):
            scan.feed(data[i:i + cut])
    assert err.value.row == 212 and "line longer than 100 bytes" in str(err.value)
    ok = LineScan("f.csv", limits=IngestLimits(max_line_bytes=101))
    upto = sum(len(line) + 1 for line in lines[:250]) + 101  # up to the 500-byte line passes a cap of 101
    for i in range(0, upto, cut):
        ok.feed(data[i:min(i + cut, upto)])
    with pytest.raises(IngestError) as err:
        ok.feed(data[upto:upto + 1])
    assert err.value.row == 251


def test_cr_only_line_ends_are_line_ends():
    data = b"\r".join([b"x" * 90] * 50) + b"\r"
    LineScan("f.csv", limits=IngestLimits(max_line_bytes=100)).feed(data)
    with pytest.raises(IngestError):
        LineScan("f.csv", limits=IngestLimits(max_line_bytes=100)).feed(data.replace(b"\r", b" "))


def test_sparse_file_and_zip_bomb_are_refused_in_bounded_memory(tmp_path, bars_mapping):
    """A 1 GB sparse file (no newline) and a 200 KB zip of 200 MB NULs: one line each, RSS < 1 GB
    (before the caps they peaked at 9.8 GB and 2.2 GB). Run in a child so the peak is its own."""
    sparse = tmp_path / "sparse.csv"
    with open(sparse, "wb") as fh:
        fh.truncate(1 << 30)
    bomb = tmp_path / "lean" / SPY
    bomb.parent.mkdir(parents=True)
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as zf, zf.open("20131007_spy_minute_trade.csv", "w") as f:
        for _ in range(200):
            f.write(bytes(1 << 20))
    bars_mapping(IGNORE_NOTE)
    # VmHWM, not getrusage's ru_maxrss: exec carries the old address space's peak into ru_maxrss, and
    # subprocess may vfork, so under a big pytest parent (the full suite) the child "peaked" at the parent's size.
    script = f"""
from pathlib import Path
from workbench.ingest import ingest_csv, ingest_lean
from workbench.store import Store
st = Store.open(":memory:")
for run in (lambda: ingest_csv(st, {str(sparse)!r}, {str(tmp_path / "m.yaml")!r}, quiet=True, keep_going=True),
            lambda: ingest_lean(st, {str(bomb)!r}, quiet=True, keep_going=True)):
    print(run().files[0].error)
print(next(int(x.split()[1]) for x in Path("/proc/self/status").read_text().splitlines() if x.startswith("VmHWM:")))
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    sparse_err, bomb_err, peak_kb = out.strip().splitlines()
    assert sparse_err.startswith(f"{sparse} line 1: line longer than")
    assert bomb_err.startswith(f"{bomb}[20131007_spy_minute_trade.csv]: member inflates") and "max_zip_ratio" in bomb_err
    assert int(peak_kb) < 1_000_000, f"peak RSS {int(peak_kb) // 1024} MB"


def test_zip_directory_caps(tmp_path, lean, store):
    path = _spy_zip(tmp_path, lean)
    with zipfile.ZipFile(path) as zf:
        size = zf.infolist()[0].file_size
    before = store.info()
    with pytest.raises(IngestError, match="inflate to more than 1,000 bytes .limit max_unpacked_bytes"):
        ingest_lean(store, path, quiet=True, limits=IngestLimits(max_unpacked_bytes=1000))
    two = _zip(tmp_path / "two" / "lean" / SPY, {"a.csv": b"1,1,1,1,1,1\n", "b.csv": b"1,1,1,1,1,1\n"})
    with pytest.raises(IngestError, match="2 members, more than 1 .limit max_zip_members"):
        ingest_lean(store, two, quiet=True, limits=IngestLimits(max_zip_members=1))
    assert store.info() == before
    assert ingest_lean(store, path, quiet=True, limits=IngestLimits(max_unpacked_bytes=size)).inserted > 0


def test_long_text_field_is_refused_naming_line_and_field(tmp_path, store):
    f = tmp_path / "x.csv"
    f.write_text(HEAD + "2024-01-02 14:30:00,10,11,9,10,100,ok\n" + "2024-01-02 14:31:00,10,11,9,10,100," + "n" * 300
                 + "\n")
    with pytest.raises(IngestError) as err:
        ingest_csv(store, f, MAPPING_DICT, quiet=True, limits=IngestLimits(max_field_bytes=200))
    assert (err.value.row, err.value.field) == (3, "note") and "longer than 200 bytes" in str(err.value)
    assert store.find_instrument("XYZ.XNAS") is None


MAPPING_DICT = {"kind": "bars", "instrument": "XYZ.XNAS", "asset_class": "EQUITY", "bar_size": "1min",
                "time": {"columns": ["t"], "format": "%Y-%m-%d %H:%M:%S"},
                "fields": {"open": "o", "high": "h", "low": "l", "close": "c", "volume": "v"}, "ignore": ["note"]}


def test_bad_crc_is_one_line_naming_file_and_member(tmp_path, lean, capsys):
    with zipfile.ZipFile(lean / SPY) as zf:
        name = zf.namelist()[0]
        raw = zf.read(name)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr(name, raw)
    data = bytearray(buf.getvalue())
    data[data.find(raw[:40]) + 20] ^= 1  # one flipped bit in the stored member
    path = tmp_path / "lean" / SPY
    path.parent.mkdir(parents=True)
    path.write_bytes(bytes(data))
    db = str(tmp_path / "s.duckdb")
    assert main(["--store", db, "ingest", "lean", str(path), "--quiet"]) == 1
    out = capsys.readouterr().out
    assert f"failed: {path}[{name}]: corrupt zip member (Bad CRC-32" in out
    with Store.open(db) as st:
        assert st.info()["bars"] == 0 and st.info()["ingests"] == 0


@pytest.mark.parametrize("kind", ["empty zip", "empty folder"])
def test_empty_zip_or_folder_says_0_rows_and_exits_nonzero(tmp_path, kind, capsys):
    if kind == "empty zip":
        target = _zip(tmp_path / "lean" / SPY, {})
    else:
        target = tmp_path / "lean" / "equity" / "usa" / "minute" / "spy"
        target.mkdir(parents=True)
    db = str(tmp_path / "s.duckdb")
    assert main(["--store", db, "ingest", "lean", str(target), "--quiet"]) == 1
    out, err = capsys.readouterr()
    assert "0 rows" in out + err and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    with Store.open(db) as st:
        assert st.info()["ingests"] == 0 and st.info()["instruments"] == 0


@pytest.mark.parametrize(("content", "row", "words"), [
    (HEAD + "2024-01-02 14:30:00,10,11,9,10,100,caf\xe9\n", 2, "not UTF-8 text"),
    (HEAD + "2024-01-02 14:30:00,10,11,9,10,1\xff0,x\n", 2, "not UTF-8 text"),
    ("t,o,h,l,c,v,n\xf6te\n2024-01-02 14:30:00,10,11,9,10,100,x\n", 1, "header is not UTF-8"),
])
def test_non_utf8_data_file_names_the_line(tmp_path, capsys, bars_mapping, content, row, words):
    f = tmp_path / "x.csv"
    f.write_bytes(content.encode("latin-1"))
    bars_mapping(IGNORE_NOTE)
    db = str(tmp_path / "s.duckdb")
    assert main(["--store", db, "ingest", "csv", str(f), "--mapping", str(tmp_path / "m.yaml"), "--quiet"]) == 1
    out = capsys.readouterr().out
    assert f"failed: {f} line {row}: {words}" in out
    with Store.open(db) as st:
        assert st.info()["ingests"] == 0


def test_json_documents_are_not_line_capped(tmp_path):
    """A Cboe chain JSON is one line of several MB: the line cap is for line-structured text only."""
    from workbench.ingest.base import scan_file
    from workbench.ingest.limits import use_limits

    doc = tmp_path / "spx.json"
    doc.write_bytes(b'\xef\xbb\xbf {"data": {"options": [' + b'{"option": "SPX"},' * 2000 + b"{}]}}")
    csv = tmp_path / "x.csv"
    csv.write_bytes(b"a," * 2000 + b"\n")
    with use_limits(IngestLimits(max_line_bytes=1000)):
        scan_file(doc)
        with pytest.raises(IngestError, match="line longer than 1,000 bytes"):
            scan_file(csv)
