"""A multi-file ingest defers DuckDB's automatic checkpoints (one every 16 MiB of WAL by default,
each re-reading what was appended since) and restores the setting afterwards, failure or not."""

from __future__ import annotations

import pyarrow as pa
import pytest

from workbench.ingest.errors import IngestError
from workbench.ingest.pipeline import Job, ingest_jobs
from workbench.store import Instrument, Store
from workbench.store.writes import BULK_CHECKPOINT


def _setting(store):
    return store.con.execute("SELECT current_setting('checkpoint_threshold')").fetchall()[0][0]


def test_checkpoints_deferred_during_the_ingest_and_restored_after(tmp_path):
    store = Store.open(tmp_path / "s.duckdb")
    store.upsert_instruments([Instrument.equity("SPY")])
    before = _setting(store)
    seen = []

    def prepare(path, data):
        def write(st, batch):
            seen.append(_setting(st))
            if data.startswith(b"bad"):
                raise IngestError(str(path), "bad file")
            st.write_bars("SPY.XNAS", "1min", pa.table({"ts_event": [len(seen)], "open": [1.0], "high": [1.0],
                                                        "low": [1.0], "close": [1.0], "volume": [1.0]}))
        return write

    files = []
    for name, body in (("a", b"one"), ("b", b"two"), ("c", b"bad")):
        (tmp_path / name).write_bytes(body)
        files.append(Job(tmp_path / name, prepare))
    with pytest.raises(IngestError, match="bad file"):
        list(ingest_jobs(store, files, "test"))
    assert before == "16.0 MiB"  # DuckDB's default
    assert seen == ["1.0 GiB"] * 3 and BULK_CHECKPOINT == "1GiB"
    assert _setting(store) == before  # restored although the third file failed
    store.close()
    reopened = Store.open(tmp_path / "s.duckdb")  # the two good files were committed and survive
    assert reopened.info()["bars"] == 2
