"""Shared fixtures: the real-data folder beside the checkout and a fresh in-memory store."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

os.environ.setdefault("TQDM_DISABLE", "1")


@pytest.fixture(scope="session", autouse=True)
def _own_control_file(tmp_path_factory):
    """Every test's default discovery file is in pytest's temp folder, never the user's
    ~/.workbench/control.json (a node or endpoint started by a test would otherwise advertise itself
    there, or find a real node's file); subprocesses inherit it."""
    old = os.environ.get("WB_CONTROL_FILE")
    os.environ["WB_CONTROL_FILE"] = str(tmp_path_factory.mktemp("control") / "control.json")
    yield
    if old is None:
        os.environ.pop("WB_CONTROL_FILE", None)
    else:
        os.environ["WB_CONTROL_FILE"] = old


@pytest.fixture(scope="session")
def real_data() -> Path:
    """``../shared/data/real`` (or ``$WORKBENCH_REAL_DATA``), found as the notebooks find it; required (CI has
    it), so its absence is a failure (one-line error naming the folder), not a skip."""
    from workbench.replay.real import real_data_dir

    return real_data_dir()


@pytest.fixture
def store():
    from workbench.store import Store

    s = Store.open(":memory:")
    yield s
    s.close()


@pytest.fixture
def seeded_quotes(store):
    """``seeded_quotes(n, seed)`` fills ``store`` with one equity (DEMO.XNAS) and ``n`` random-walk
    quotes, one a second from 2024-03-04 14:30 UTC, two ticks wide; returns the store."""
    import numpy as np
    import pandas as pd

    from workbench.store import Instrument

    def make(n: int, seed: int):
        store.upsert_instruments([Instrument.equity("DEMO")])
        rng = np.random.default_rng(seed)
        ts = pd.Timestamp("2024-03-04 14:30", tz="UTC").value + np.arange(n, dtype=np.int64) * 1_000_000_000
        mid = np.round(100 + np.cumsum(rng.normal(0, 0.01, n)), 2)
        store.write_quotes("DEMO.XNAS", pd.DataFrame({"ts_event": ts, "bid": mid - 0.01, "ask": mid + 0.01,
                                                      "bid_size": 300.0, "ask_size": 300.0}), source="test")
        return store

    return make
