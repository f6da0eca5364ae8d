"""Cboe delayed-quotes JSON: OCC symbols give the terms, ask 0 is no offer, session stamping."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from workbench.ingest import IngestError, ingest_chain_file


def _doc(options, stamp="2024-01-06 10:52:00", price=4697.24):
    return {"timestamp": stamp, "data": {"symbol": "_SPX", "current_price": price, "options": options}}


def _opt(sym, bid, ask, **kw):
    return {"option": sym, "bid": bid, "ask": ask, "iv": 0.2, "open_interest": 10, "volume": 1, "delta": 0.5,
            "gamma": 0.001, "last_trade_price": 1.0, **kw}


def test_cboe_json_chain(tmp_path, store):
    path = tmp_path / "spx.json"
    path.write_text(json.dumps(_doc([_opt("SPXW240112C04700000", 30.5, 31.2), _opt("SPXW240112P04700000", 29, 30),
                                     _opt("SPX271217C12000000", 100, 0)])))
    assert ingest_chain_file(store, path).inserted == 3
    snap = store.chain_snapshots("SPX.XCBO")
    # Saturday download -> Friday 2024-01-05 close
    assert snap["as_of"].tolist() == [int(pd.Timestamp("2024-01-05 16:00", tz="America/New_York").value)]
    chain = store.read_chain("SPX.XCBO").set_index("instrument_id")
    assert chain.loc["SPXW240112C04700000.XCBO", ["bid", "ask"]].tolist() == [30.5, 31.2]
    stub = chain.loc["SPX271217C12000000.XCBO"]
    assert float(stub["strike"]) == 12000 and pd.isna(stub["ask"])


@pytest.mark.parametrize(("options", "match"), [
    ([_opt("NOT-A-SYMBOL", 1, 2)], "OCC"),
    ([_opt("SPXW240112C04700000", 1, float("inf"))], "field 'ask'"),
    ([_opt("SPXW240112C04700000", 3, 2)], "crossed"),
])
def test_cboe_json_bad_rows_refused(tmp_path, store, options, match):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(_doc(options)))
    with pytest.raises(IngestError, match=match):
        ingest_chain_file(store, path)
    assert store.con.execute("SELECT count(*) FROM chain_rows").fetchall()[0][0] == 0
