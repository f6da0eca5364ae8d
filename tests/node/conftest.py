"""Shared fixtures of the node tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from workbench.ingest.generator import MarketConfig, generate_market
from workbench.store import Store


@pytest.fixture(scope="module")
def demo_store(tmp_path_factory) -> Path:
    """A DuckDB store holding one seeded demo session (the generator's default market), one per test
    module: the node tests write their journals into it."""
    path = tmp_path_factory.mktemp("node") / "store.duckdb"
    with Store.open(str(path)) as store:
        generate_market(store, MarketConfig(n_sessions=1))
    return path
