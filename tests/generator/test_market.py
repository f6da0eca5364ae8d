"""generate_market end to end: determinism, idempotency, atomicity, config errors, the result object."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import date

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

from workbench.ingest.generator import MarketConfig, OptionSpec, generate_market
from workbench.store import Store

# two sessions, two expiries, ±10% strikes: every code path at a small fraction of the rows
TINY = MarketConfig(seed=5, n_sessions=2,
                    options=OptionSpec(moneyness=(0.9, 1.1), fine_band=(0.95, 1.05), expiry_days=(7, 30)))


def _digest(store: Store) -> dict[str, str]:
    """sha256 per table of everything the public reads return (plus all option quotes in one query)."""
    uid = TINY.underlying_id

    def h(frame: pd.DataFrame) -> str:
        return hashlib.sha256(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes()).hexdigest()

    out = {
        "instruments": h(store.instruments().drop(columns="source")),
        "quotes": h(store.read_quotes(uid)),
        "trades": h(store.read_trades(uid)),
        "bars_1min": h(store.read_bars(uid, "1min")),
        "bars_1d": h(store.read_bars(uid, "1d")),
        "option_quotes": h(store.con.execute(
            "SELECT instrument_id, ts_event, seq, bid, ask, bid_size, ask_size FROM quotes "
            "WHERE instrument_id <> ? ORDER BY instrument_id, ts_event, seq", [uid]).df()),
    }
    snaps = store.chain_snapshots(uid)
    out["chains"] = h(pd.concat([store.read_chain(uid, as_of=int(ns)) for ns in snaps["as_of"]]))
    return out


def _generate(config: MarketConfig) -> dict[str, str]:
    with Store.open(":memory:") as store:
        generate_market(store, config)
        return _digest(store)


def test_same_config_gives_bit_identical_store_contents():
    first, second = _generate(TINY), _generate(TINY)
    assert first == second


def test_seed_changes_everything_and_option_settings_leave_the_stock_alone():
    base = _generate(TINY)
    other_seed = _generate(replace(TINY, seed=6))
    assert all(base[k] != other_seed[k] for k in ("quotes", "trades", "bars_1min", "chains", "option_quotes"))
    other_rate = _generate(replace(TINY, options=replace(TINY.options, rate=0.03)))
    assert all(base[k] == other_rate[k] for k in ("quotes", "trades", "bars_1min", "bars_1d", "instruments"))
    assert base["chains"] != other_rate["chains"]


def test_rerunning_the_same_config_changes_nothing():
    with Store.open(":memory:") as store:
        generate_market(store, TINY)
        before = {k: v for k, v in store.info().items() if k not in ("ingests",)}
        digest = _digest(store)
        generate_market(store, TINY)
        after = {k: v for k, v in store.info().items() if k not in ("ingests",)}
        assert before == after and after["revisions"] == 0
        assert _digest(store) == digest
        log = store.con.execute("SELECT rows_in, rows_inserted, rows_unchanged FROM ingest_log ORDER BY ingest_id").fetchall()
        assert len(log) == 2 and log[1][1] == 0 and log[1][0] == log[1][2] == log[0][0]


class _FailingStore(Store):
    """A real store whose second chain write fails, as a full disk or a bug would."""

    chain_writes = 0

    def write_chain(self, *args, **kwargs):
        self.chain_writes += 1
        if self.chain_writes == 2:
            raise OSError("simulated failure mid-ingest")
        return super().write_chain(*args, **kwargs)


def test_a_failure_midway_leaves_the_store_untouched():
    store = _FailingStore.open(":memory:")
    empty = store.info()
    with pytest.raises(OSError, match="mid-ingest"):
        generate_market(store, TINY)
    assert store.chain_writes == 2
    assert store.info() == empty
    store.close()


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"symbol": "demo"}, "symbol"), ({"n_sessions": 0}, "n_sessions"), ({"seed": -1}, "seed"),
    ({"start": 20240304}, "start"),
])
def test_bad_config_is_rejected_naming_the_field(kwargs, field):
    with pytest.raises(ValueError, match=field):
        MarketConfig(**kwargs)


def test_bad_option_settings_are_rejected_naming_the_field():
    with pytest.raises(ValueError, match="snapshot_times"):
        OptionSpec(snapshot_times=("17:00",))
    with pytest.raises(ValueError, match="moneyness"):
        OptionSpec(moneyness=(0.9, 0.95))


def test_start_string_and_non_session_start_roll_forward():
    assert MarketConfig(start="2024-03-04").start == date(2024, 3, 4)
    with Store.open(":memory:") as store:
        m = generate_market(store, replace(TINY, start=date(2024, 3, 2), n_sessions=1))  # a Saturday
        assert m.sessions == (date(2024, 3, 4),)


def test_result_object_reports_what_was_written(demo):
    m, store = demo.market, demo.store
    frame = m.to_frame().set_index(["table", "asset_class"])
    info = store.info()
    assert frame.loc[("quotes", "EQUITY"), "rows"] == len(store.read_quotes(m.underlying_id))
    assert frame.loc[("quotes", "EQUITY"), "rows"] + frame.loc[("quotes", "OPTION"), "rows"] == info["quotes"]
    assert frame.loc[("trades", "EQUITY"), "rows"] == info["trades"]
    assert frame.loc[("chain_rows", "OPTION"), "rows"] == info["chain_rows"]
    assert frame.loc[("chain_snapshots", "OPTION"), "rows"] == info["chain_snapshots"] == len(m.snapshots) == 10
    assert info["instruments"] == 1 + len(m.option_ids)
    assert frame.loc[("quotes", "EQUITY"), "first"] == pd.Timestamp("2024-03-04 14:30", tz="UTC")
    text = m.summary()
    assert "DEMO.XNAS" in text and f"{info['trades']:,}" in text and "7 expiries" in text
    fig = m.plot()
    assert isinstance(fig, go.Figure) and len(fig.data) == 2 + len(m.expiries)


def test_true_surface_lookup_follows_read_chain(demo):
    m = demo.market
    assert m.true_surface().as_of == m.snapshots[-1]
    assert m.true_surface(m.snapshots[2]).as_of == m.snapshots[2]
    assert m.true_surface(m.snapshots[2] + 10**9).as_of == m.snapshots[2]
    assert m.true_surface("2024-03-05 15:00").as_of == m.snapshots[2]  # naive = UTC, 10:00 ET
    with pytest.raises(LookupError, match="no chain snapshot"):
        m.true_surface("2024-03-04 14:00")
    chain = demo.store.read_chain(m.underlying_id, as_of=m.snapshots[2] + 10**9)
    assert chain["underlying_price"].iloc[0] == m.true_surface(m.snapshots[2] + 10**9).spot
    assert np.isfinite(m.true_surface().iv(100.0, np.datetime64(m.expiries[-1], "D")))
