"""Generated markets shared by the generator tests (each is built once per session: generating
writes ~70k quotes and a ~700-contract chain, and the assertions only read it)."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import pytest

from workbench.ingest.generator import GeneratedMarket, MarketConfig, OptionSpec, generate_market
from workbench.store import Store

# two sessions and a narrow strike range: the whole pipeline, at a fraction of the rows
SMALL = MarketConfig(seed=11, n_sessions=2,
                     options=OptionSpec(moneyness=(0.9, 1.1), fine_band=(0.95, 1.05),
                                        expiry_days=(7, 14, 30, 60, 91, 182)))


@dataclass
class Built:
    store: Store
    market: GeneratedMarket

    def chains(self) -> list[pd.DataFrame]:
        return [self.store.read_chain(self.market.underlying_id, as_of=ns) for ns in self.market.snapshots]


@pytest.fixture(scope="session")
def demo() -> Built:
    """The default market (what ``make demo`` uses)."""
    store = Store.open(":memory:")
    yield Built(store, generate_market(store, MarketConfig()))
    store.close()


@pytest.fixture(scope="session")
def half_day() -> Built:
    """Thanksgiving week 2024: 11-28 closed, 11-29 closes at 13:00 ET."""
    store = Store.open(":memory:")
    config = MarketConfig(seed=3, start="2024-11-26", n_sessions=4, options=SMALL.options)
    yield Built(store, generate_market(store, config))
    store.close()
