"""Multi-file Lean ingest reads the next file on a second thread: what it must not change."""

from __future__ import annotations

import shutil
import threading

import pytest

from workbench.ingest import ingest_lean
from workbench.ingest.errors import IngestError
from workbench.ingest.limits import IngestLimits
from workbench.store import Store

DAYS = ("20131007", "20131008", "20131009")


def _minute_files(lean, rezip, edit_day=None, edit=None):
    src = lean / "equity" / "usa" / "minute" / "spy"
    return [rezip(src / f"{d}_trade.zip", f"equity/usa/minute/spy/{d}_trade.zip",
                  edit if d == edit_day else None) for d in DAYS]


def test_limits_reach_the_reading_thread(lean, rezip):
    """The ingest limits are a ContextVar: the look-ahead thread must see the caller's, not the defaults."""
    files = _minute_files(lean, rezip)
    store = Store.open(":memory:")
    with pytest.raises(IngestError, match="max_line_bytes"):
        ingest_lean(store, files, quiet=True, limits=IngestLimits(max_line_bytes=20))
    assert store.info()["bars"] == 0  # the first file already failed: nothing written
    assert ingest_lean(store, files, quiet=True).inserted > 0


def test_bad_file_fails_alone_in_order_and_the_same_bytes_twice_are_skipped(lean, rezip, tmp_path):
    def inf_high(name, data):  # second data line: high = inf
        lines = data.split(b"\n")
        f = lines[1].split(b",")
        f[2] = b"inf"
        lines[1] = b",".join(f)
        return b"\n".join(lines)

    files = _minute_files(lean, rezip, "20131008", inf_high)
    twin = tmp_path / "twin" / "lean" / "equity" / "usa" / "minute" / "spy" / "20131009_trade.zip"
    twin.parent.mkdir(parents=True)
    shutil.copy(files[2], twin)  # same bytes as the third file, listed after it
    store = Store.open(":memory:")
    threads_before = threading.active_count()
    s = ingest_lean(store, [*files, twin], quiet=True, keep_going=True)
    assert [f.status for f in s.files] == ["ingested", "failed", "ingested", "skipped"]
    assert str(files[1]) in s.files[1].error and "line 2" in s.files[1].error and "high" in s.files[1].error
    assert store.con.execute("SELECT count(*) FROM ingest_log").fetchall()[0][0] == 2
    assert threading.active_count() == threads_before  # the reading thread is gone
    assert store.con.execute("SELECT current_setting('threads')").fetchall()[0][0] > 1  # restored
    with pytest.raises(IngestError, match="line 2"):  # without keep_going: stops at the bad file
        ingest_lean(Store.open(":memory:"), files, quiet=True)


def test_read_ahead_and_in_turn_reading_store_the_same(lean, rezip):
    from workbench.ingest.lean import SOURCE, _equity_prepare
    from workbench.ingest.lean_layout import parse_lean_path
    from workbench.ingest.pipeline import Job, ingest_jobs

    files = _minute_files(lean, rezip)
    jobs = [Job(p, _equity_prepare(parse_lean_path(p))) for p in files]
    tables = []
    for read_ahead in (True, False):
        store = Store.open(":memory:")
        results = list(ingest_jobs(store, jobs, SOURCE, read_ahead=read_ahead))
        assert [r.status for r in results] == ["ingested"] * 3
        tables.append(store.con.execute("SELECT * EXCLUDE (ingest_id) FROM bars ORDER BY ts_event").fetchall())
    assert tables[0] == tables[1] and len(tables[0]) > 1000


@pytest.mark.parametrize(("n_files", "read_ahead", "reader_thread_used"), [
    (1, True, False),   # one file: nothing to read meanwhile, no thread (the csv/chain one-file path)
    (3, False, False),  # read in turn: no thread
    (3, True, True),
])
def test_a_reading_thread_only_when_there_is_a_next_file_to_read(lean, rezip, n_files, read_ahead,
                                                                 reader_thread_used):
    from workbench.ingest.lean import SOURCE, _equity_prepare
    from workbench.ingest.lean_layout import parse_lean_path
    from workbench.ingest.pipeline import Job, ingest_jobs

    seen = []

    def watched(prepare):
        def run(path, data):
            seen.append(threading.current_thread().name)
            return prepare(path, data)
        return run

    jobs = [Job(p, watched(_equity_prepare(parse_lean_path(p)))) for p in _minute_files(lean, rezip)[:n_files]]
    results = list(ingest_jobs(Store.open(":memory:"), jobs, SOURCE, read_ahead=read_ahead))
    assert [r.status for r in results] == ["ingested"] * n_files
    assert any(name.startswith("wb-ingest-read") for name in seen) == reader_thread_used
    assert seen[0] == threading.current_thread().name or reader_thread_used
