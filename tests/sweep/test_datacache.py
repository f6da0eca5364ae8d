"""The worker data export: same bytes as the store, written once per content, complete or not at all."""

from __future__ import annotations

import pytest

from tests.sweep.conftest import ENTRY, HOUR
from workbench.sweep import ParquetSource, Sweep, export_data


def _files(root):
    return {p.relative_to(root): p.stat().st_mtime_ns for p in root.rglob("*") if p.is_file()}


def test_second_export_of_the_same_data_writes_nothing(demo_db, tmp_path):
    first = export_data(demo_db, HOUR, str(tmp_path))
    files = _files(tmp_path)
    second = export_data(demo_db, HOUR, str(tmp_path))
    assert first.written and not second.written and first.key == second.key
    assert _files(tmp_path) == files  # not one file rewritten
    other = export_data(demo_db, {**HOUR, "end": "2024-03-04 15:30"}, str(tmp_path))
    assert other.written and other.key != first.key


def test_a_sweep_on_the_same_data_exports_nothing(demo_db, tmp_path):
    runs = [Sweep(ENTRY, {"entry_spreads": [3.0]}, HOUR, store=demo_db, cache=str(tmp_path), persist=False)
            for _ in range(2)]
    for sweep in runs:
        sweep.run("serial", progress=False)
    assert runs[0].export.written and not runs[1].export.written
    assert runs[0].export.url == runs[1].export.url


def test_changed_data_is_a_new_export(demo_db, tmp_path):
    """Same spec, different content (a revised quote): the hash covers the data, not only the spec."""
    from workbench.ingest.generator import MarketConfig, generate_market
    from workbench.store import Store

    with Store.open(":memory:") as other:
        generate_market(other, MarketConfig(n_sessions=1, seed=8))
        a, b = export_data(demo_db, HOUR, str(tmp_path)), export_data(other, HOUR, str(tmp_path))
    assert a.key != b.key and b.written


def test_export_reads_back_exactly_what_the_store_holds(demo_db, tmp_path):
    exp = export_data(demo_db, {**HOUR, "trades": True, "bars": ["1min"]}, str(tmp_path))
    src = ParquetSource(exp.url)
    iid = "DEMO.XNAS"
    window = ("2024-03-04 15:10", "2024-03-04 15:40")
    assert src.read_quotes(iid, *window).equals(demo_db.read_quotes(iid, *window, as_="arrow"))
    assert src.read_trades(iid, *window).equals(demo_db.read_trades(iid, *window, as_="arrow"))
    assert src.read_bars(iid, "1min", *window).equals(demo_db.read_bars(iid, "1min", *window, as_="arrow"))
    assert src.instrument(iid) == demo_db.instrument(iid)
    assert src.read_quotes(iid).equals(demo_db.read_quotes(iid, HOUR["start"], HOUR["end"], as_="arrow"))
    with pytest.raises(KeyError, match="not in the sweep data export"):
        src.read_bars(iid, "1d")


def test_an_interrupted_export_is_written_again(demo_db, tmp_path):
    exp = export_data(demo_db, HOUR, str(tmp_path))
    manifest = tmp_path / exp.key / "manifest.json"
    manifest.unlink()  # as if the export stopped before its last file
    again = export_data(demo_db, HOUR, str(tmp_path))
    assert again.written and manifest.is_file()


def test_options_of_is_resolved_before_export(demo_db, tmp_path):
    exp = export_data(demo_db, {"instrument_ids": ["DEMO.XNAS"], "options_of": ["DEMO.XNAS"],
                                "start": "2024-03-04 14:55", "end": "2024-03-04 15:05"}, str(tmp_path))
    ids = exp.data.instrument_ids
    assert len(ids) > 100 and exp.data.options_of == ()
    assert sorted(p.name for p in (tmp_path / exp.key).iterdir()) == ["instruments.json", "manifest.json",
                                                                       "quotes.parquet"]
    src = ParquetSource(exp.url)
    for iid in (ids[0], ids[1], ids[-1]):  # first, second and last block of the shared quotes file
        assert src.instrument(iid) == demo_db.instrument(iid)
        ref = demo_db.read_quotes(iid, "2024-03-04 14:55", "2024-03-04 15:05", as_="arrow")
        assert ref.num_rows > 0 and src.read_quotes(iid).equals(ref)


def test_the_same_sweep_run_again_after_the_store_changed_reads_the_new_data(seeded_quotes, tmp_path):
    import pandas as pd

    store = seeded_quotes(900, 5)  # 15 minutes of one-second quotes from 14:30 UTC
    window = {"instrument_ids": ["DEMO.XNAS"], "start": "2024-03-04 14:30", "end": "2024-03-04 15:00"}
    sweep = Sweep(ENTRY, {"warmup": [50]}, window, store=store, cache=str(tmp_path))
    first, again = sweep.run("serial", progress=False), sweep.run("serial", progress=False)
    assert first.export.written and not again.export.written and again.export.key == first.export.key
    ts = pd.Timestamp("2024-03-04 14:45", tz="UTC").value + pd.RangeIndex(300).to_numpy() * 1_000_000_000
    store.write_quotes("DEMO.XNAS", pd.DataFrame({"ts_event": ts, "bid": 99.0, "ask": 99.02, "bid_size": 300.0,
                                                  "ask_size": 300.0}), source="test")
    changed = sweep.run("serial", progress=False)
    assert changed.export.written and changed.export.key != first.export.key
    assert changed.to_frame().loc[0, "data_events"] == first.to_frame().loc[0, "data_events"] + 300
    assert first.rerun(0).n_data == first.to_frame().loc[0, "data_events"]  # from its own export, not the store
