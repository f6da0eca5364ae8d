"""`wb vol surface` as a new user types it: a bare ticker, a naive (exchange-local) --asof."""

from __future__ import annotations

import pandas as pd
import pytest

from workbench.cli.main import main
from workbench.store import Store
from workbench.vol import synthetic_chain


def _et(ts: str) -> int:
    return int(pd.Timestamp(ts, tz="America/New_York").tz_convert("UTC").value)


@pytest.fixture
def two_snapshots(tmp_path):
    """SPX.XCBO snapshots at 10:00 and 15:00 New York on one day (14:00 and 19:00 UTC in summer)."""
    path = tmp_path / "wb.duckdb"
    chain, _ = synthetic_chain(seed=3)
    with Store.open(str(path)) as store:
        for hhmm in ("10:00", "15:00"):
            store.write_chain("SPX.XCBO", _et(f"2024-07-01 {hhmm}"), 5000.0,
                              chain.drop(columns=["underlying_price", "as_of"]), source="test")
    return path


def test_bare_ticker_resolves_and_naive_asof_is_exchange_local(two_snapshots, capsys):
    # 16:00 exchange-local (20:00 UTC) picks the 15:00 snapshot; read as UTC (12:00 New York) it picked 10:00
    assert main(["--store", str(two_snapshots), "vol", "surface", "SPX", "--asof", "2024-07-01 16:00",
                 "--no-save"]) == 0
    out = capsys.readouterr().out
    assert "SPX.XCBO as of 2024-07-01 19:00:00+00:00" in out.splitlines()[0]  # the 15:00 New York snapshot


def test_ambiguous_ticker_is_a_one_line_error(two_snapshots, capsys):
    chain, _ = synthetic_chain(seed=4)
    with Store.open(str(two_snapshots)) as store:
        store.write_chain("SPX.XNAS", _et("2024-07-01 12:00"), 5000.0,
                          chain.drop(columns=["underlying_price", "as_of"]), source="test")
    assert main(["--store", str(two_snapshots), "vol", "surface", "SPX", "--no-save"]) == 2
    err = capsys.readouterr()
    text = err.out + err.err
    assert "ambiguous" in text and "SPX.XCBO" in text and "SPX.XNAS" in text


def test_unreadable_asof_is_a_one_line_error(two_snapshots, capsys):
    assert main(["--store", str(two_snapshots), "vol", "surface", "SPX.XCBO", "--asof", "yesterday-ish"]) == 2


@pytest.mark.parametrize("flag", [["--rate", "inf"], ["--rate", "nan"], ["--min-tick", "nan"], ["--min-tick", "0"]])
def test_non_finite_rate_or_tick_refused(two_snapshots, flag):
    assert main(["--store", str(two_snapshots), "vol", "surface", "SPX", "--no-save", *flag]) == 2


def test_min_tick_by_class_and_explicit():
    from workbench.vol import VolSurface
    from workbench.vol.chain import min_tick_for

    assert (min_tick_for("SPY.XNAS"), min_tick_for("SPX.XCBO"), min_tick_for("NDX")) == (0.01, 0.05, 0.05)
    chain, as_of = synthetic_chain(seed=3)
    default = VolSurface.from_chain(chain, as_of, symbol="SPY.XNAS", min_tick="class").chain
    coarse = VolSurface.from_chain(chain, as_of, symbol="SPY.XNAS", min_tick=0.5).chain
    assert coarse["min_tick_bid"].sum() > default["min_tick_bid"].sum()
    assert ((default["bid"] > 0.01) & default["min_tick_bid"]).sum() == 0
