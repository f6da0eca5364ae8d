"""Sweep fixtures: a file-backed store holding two demo-market sessions (held open read-write by the
test process, so a worker that tried to open the DuckDB file would fail on its lock) and a real
two-worker LocalCluster shared by the module."""

from __future__ import annotations

import pytest

ENTRY = {"strategy_path": "strategies.quote_reversion:QuoteReversion",
         "config_path": "strategies.quote_reversion:QuoteReversionConfig",
         "config": {"instrument_id": "DEMO.XNAS", "trade_size": 100, "max_position": 500}}
# one hour of the first session (~2k quotes): a run takes a fraction of a second
HOUR = {"instrument_ids": ["DEMO.XNAS"], "start": "2024-03-04 15:00", "end": "2024-03-04 16:00"}


@pytest.fixture(scope="session")
def demo_db(tmp_path_factory):
    from workbench.ingest.generator import MarketConfig, generate_market
    from workbench.store import Store

    store = Store.open(tmp_path_factory.mktemp("sweepdb") / "wb.duckdb")
    generate_market(store, MarketConfig(n_sessions=2))
    yield store
    store.close()


@pytest.fixture(scope="module")
def local_client():
    from distributed import Client

    from workbench.sweep.runner import local_cluster

    cluster = local_cluster(2)
    client = Client(cluster, set_as_default=False)
    yield client
    client.close()
    cluster.close()


def serial_metrics(store, sweep, i: int) -> dict:
    """Point ``i`` run alone, in this process, straight from the DuckDB store."""
    from workbench.engine import backtest
    from workbench.sweep.worker import metrics_of

    task = sweep.task(sweep.points()[i])
    result = backtest(task.entries, task.data, task.venue, store=store, risk_config=task.risk_config)
    try:
        return metrics_of(result)
    finally:
        result.close()
